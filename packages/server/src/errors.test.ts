import * as frame from '@gale/frame';
import { type ErrorCase, itKeepsTheErrorFamily } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import * as server from './index.js';
import {
  GaleError,
  HandshakeError,
  HTTPError,
  InvalidArgumentError,
  InvalidSettingError,
  InvalidStateError,
  WebSocketClosedError,
  WebSocketError,
} from './index.js';

// Every error class @gale/server exports: how to make one with `cause`, and the code it documents.
const CASES: ErrorCase[] = [
  {
    name: 'HTTPError',
    Class: HTTPError,
    make: (cause: Error) => new HTTPError(409, 'sold out', { cause }),
    code: 'ERR_HTTP',
  },
  {
    name: 'InvalidSettingError',
    Class: InvalidSettingError,
    make: (cause: Error) => new InvalidSettingError('x', { cause }),
    code: 'ERR_INVALID_SETTING',
  },
  {
    name: 'InvalidArgumentError',
    Class: InvalidArgumentError,
    make: (cause: Error) => new InvalidArgumentError('x', { cause }),
    code: 'ERR_INVALID_ARGUMENT',
  },
  {
    name: 'InvalidStateError',
    Class: InvalidStateError,
    make: (cause: Error) => new InvalidStateError('x', { cause }),
    code: 'ERR_INVALID_STATE',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: (cause: Error) => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: (cause: Error) => new HandshakeError('ERR_HANDSHAKE_VERSION', 'x', 426, {}, { cause }),
    code: 'ERR_HANDSHAKE_VERSION',
    // Its row names its codes as a family.
    documented: '`ERR_HANDSHAKE_*`',
  },
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: (cause: Error) => new WebSocketError('ERR_HTTP', 'x', { cause }),
    code: 'ERR_HTTP',
    documented: null,
  },
];

describe('the error family', () => {
  itKeepsTheErrorFamily({
    exports: server,
    root: frame.WebSocketError,
    cases: CASES,
    readme: new URL('../README.md', import.meta.url),
  });

  it('re-exports the very classes of @gale/frame', () => {
    expect(WebSocketError).toBe(frame.WebSocketError);
    expect(WebSocketClosedError).toBe(frame.WebSocketClosedError);
    expect(InvalidArgumentError).toBe(frame.InvalidArgumentError);
    expect(InvalidStateError).toBe(frame.InvalidStateError);
    expect(HandshakeError).toBe(frame.HandshakeError);
  });

  it('keeps GaleError as another name of WebSocketError', () => {
    expect(GaleError).toBe(frame.WebSocketError);
    expect(new InvalidSettingError('x')).toBeInstanceOf(GaleError);
  });

  it('keeps the status and headers of an HTTPError', () => {
    const error = new HTTPError(401, undefined, { headers: { 'WWW-Authenticate': 'Basic' } });
    expect(error.message).toBe('Unauthorized');
    expect({ status: error.status, headers: error.headers }).toEqual({
      status: 401,
      headers: { 'WWW-Authenticate': 'Basic' },
    });
  });
});
