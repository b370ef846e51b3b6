import { readFileSync } from 'node:fs';
import * as frame from '@gale/frame';
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

const cause = new Error('the cause');

// Every error class @gale/server exports: how to make one with `cause`, and the code it documents.
const CASES = [
  {
    name: 'HTTPError',
    Class: HTTPError,
    make: () => new HTTPError(409, 'sold out', { cause }),
    code: 'ERR_HTTP',
  },
  {
    name: 'InvalidSettingError',
    Class: InvalidSettingError,
    make: () => new InvalidSettingError('x', { cause }),
    code: 'ERR_INVALID_SETTING',
  },
  {
    name: 'InvalidArgumentError',
    Class: InvalidArgumentError,
    make: () => new InvalidArgumentError('x', { cause }),
    code: 'ERR_INVALID_ARGUMENT',
  },
  {
    name: 'InvalidStateError',
    Class: InvalidStateError,
    make: () => new InvalidStateError('x', { cause }),
    code: 'ERR_INVALID_STATE',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: () => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: () => new HandshakeError('ERR_HANDSHAKE_VERSION', 'x', 426, {}, { cause }),
    code: 'ERR_HANDSHAKE_VERSION',
  },
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: () => new WebSocketError('ERR_HTTP', 'x', { cause }),
    code: 'ERR_HTTP',
  },
];

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the error family', () => {
  it('lists every error class @gale/server exports', () => {
    const exported = Object.values(server).filter(
      (value) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(new Set(exported)).toEqual(new Set(CASES.map(({ Class }) => Class)));
  });

  it.each(CASES)('$name is a WebSocketError with its code, its name and the cause', (each) => {
    const error = each.make();
    expect(error).toBeInstanceOf(each.Class);
    expect(error).toBeInstanceOf(frame.WebSocketError);
    expect(each.Class.name).toBe(each.name);
    expect(error.name).toBe(each.name);
    expect(error.code).toBe(each.code);
    expect(error.cause).toBe(cause);
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

  it.each(CASES.filter(({ Class }) => Class !== WebSocketError))(
    'the README error table has a row for $name',
    ({ name, code, Class }) => {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      // HandshakeError's row names its codes as a family: `ERR_HANDSHAKE_*`.
      const documented = Class === HandshakeError ? '`ERR_HANDSHAKE_*`' : `\`${code}\``;
      expect(row ?? '(no row)', name).toContain(documented);
    },
  );

  it('keeps the status and headers of an HTTPError', () => {
    const error = new HTTPError(401, undefined, { headers: { 'WWW-Authenticate': 'Basic' } });
    expect(error.message).toBe('Unauthorized');
    expect({ status: error.status, headers: error.headers }).toEqual({
      status: 401,
      headers: { 'WWW-Authenticate': 'Basic' },
    });
  });
});
