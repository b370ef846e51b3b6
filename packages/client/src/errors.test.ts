import * as frame from '@gale/frame';
import { type ErrorCase, itKeepsTheErrorFamily } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import * as client from './index.node.js';
import {
  AbortError,
  ClientError,
  ConnectionError,
  ConnectTimeoutError,
  HandshakeError,
  InvalidArgumentError,
  InvalidStateError,
  MessageDroppedError,
  PayloadTooBigError,
  ProtocolError,
  WebSocketClosedError,
  WebSocketError,
} from './index.node.js';

// Every error class @gale/client exports: how to make one with `cause`, and the code it documents
// (`documented`: how its row in the README's error table names the code).
const CASES: ErrorCase[] = [
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: (cause: Error) => new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 404, {}, { cause }),
    code: 'ERR_HANDSHAKE_STATUS',
    documented: '`ERR_HANDSHAKE_*`',
  },
  {
    name: 'ConnectionError',
    Class: ConnectionError,
    make: (cause: Error) => new ConnectionError('x', { cause }),
    code: 'ERR_CONNECTION',
  },
  {
    name: 'ConnectTimeoutError',
    Class: ConnectTimeoutError,
    make: (cause: Error) => new ConnectTimeoutError(100, { cause }),
    code: 'ERR_CONNECT_TIMEOUT',
  },
  {
    name: 'AbortError',
    Class: AbortError,
    make: (cause: Error) => new AbortError(cause),
    code: 'ERR_ABORTED',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: (cause: Error) => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
  {
    name: 'MessageDroppedError',
    Class: MessageDroppedError,
    make: (cause: Error) => new MessageDroppedError('x', 'data', { cause }),
    code: 'ERR_MESSAGE_DROPPED',
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
    name: 'ProtocolError',
    Class: ProtocolError,
    make: (cause: Error) => new ProtocolError('ERR_INVALID_UTF8', 'x', 1007, { cause }),
    code: 'ERR_INVALID_UTF8',
    documented: 'ProtocolErrorCode',
  },
  {
    name: 'PayloadTooBigError',
    Class: PayloadTooBigError,
    make: (cause: Error) => new PayloadTooBigError('x', { cause }),
    code: 'ERR_MESSAGE_TOO_BIG',
  },
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: (cause: Error) => new WebSocketError('ERR_CONNECTION', 'x', { cause }),
    code: 'ERR_CONNECTION',
    documented: null,
  },
];

describe('the error family', () => {
  itKeepsTheErrorFamily({
    exports: client,
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
    expect(ProtocolError).toBe(frame.ProtocolError);
    expect(PayloadTooBigError).toBe(frame.PayloadTooBigError);
  });

  it('keeps ClientError as another name of WebSocketError', () => {
    expect(ClientError).toBe(frame.WebSocketError);
    expect(new ConnectionError('x')).toBeInstanceOf(ClientError);
  });

  it('keeps the data of a dropped message and the status of a refused handshake', () => {
    expect(new MessageDroppedError('x', 'hello').data).toBe('hello');
    expect(new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 401).status).toBe(401);
  });
});
