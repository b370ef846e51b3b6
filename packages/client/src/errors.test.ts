import { readFileSync } from 'node:fs';
import * as frame from '@gale/frame';
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

const cause = new Error('the cause');

// Every error class @gale/client exports: how to make one with `cause`, and the code it documents
// (`documented`: how its row in the README's error table names the code).
const CASES = [
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: () => new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 404, {}, { cause }),
    code: 'ERR_HANDSHAKE_STATUS',
  },
  {
    name: 'ConnectionError',
    Class: ConnectionError,
    make: () => new ConnectionError('x', { cause }),
    code: 'ERR_CONNECTION',
  },
  {
    name: 'ConnectTimeoutError',
    Class: ConnectTimeoutError,
    make: () => new ConnectTimeoutError(100, { cause }),
    code: 'ERR_CONNECT_TIMEOUT',
  },
  {
    name: 'AbortError',
    Class: AbortError,
    make: () => new AbortError(cause),
    code: 'ERR_ABORTED',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: () => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
  {
    name: 'MessageDroppedError',
    Class: MessageDroppedError,
    make: () => new MessageDroppedError('x', 'data', { cause }),
    code: 'ERR_MESSAGE_DROPPED',
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
    name: 'ProtocolError',
    Class: ProtocolError,
    make: () => new ProtocolError('ERR_INVALID_UTF8', 'x', 1007, { cause }),
    code: 'ERR_INVALID_UTF8',
  },
  {
    name: 'PayloadTooBigError',
    Class: PayloadTooBigError,
    make: () => new PayloadTooBigError('x', { cause }),
    code: 'ERR_MESSAGE_TOO_BIG',
  },
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: () => new WebSocketError('ERR_CONNECTION', 'x', { cause }),
    code: 'ERR_CONNECTION',
  },
];

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the error family', () => {
  it('lists every error class @gale/client exports', () => {
    const exported = Object.values(client).filter(
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
    expect(ProtocolError).toBe(frame.ProtocolError);
    expect(PayloadTooBigError).toBe(frame.PayloadTooBigError);
  });

  it('keeps ClientError as another name of WebSocketError', () => {
    expect(ClientError).toBe(frame.WebSocketError);
    expect(new ConnectionError('x')).toBeInstanceOf(ClientError);
  });

  it.each(CASES.filter(({ Class }) => Class !== WebSocketError))(
    'the README error table has a row for $name',
    ({ name, code, Class }) => {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      // Classes with a family of codes name it with a wildcard: `ERR_HANDSHAKE_*`.
      const documented =
        Class === HandshakeError
          ? '`ERR_HANDSHAKE_*`'
          : Class === ProtocolError
            ? 'ProtocolErrorCode'
            : `\`${code}\``;
      expect(row ?? '(no row)', name).toContain(documented);
    },
  );

  it('keeps the data of a dropped message and the status of a refused handshake', () => {
    expect(new MessageDroppedError('x', 'hello').data).toBe('hello');
    expect(new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 401).status).toBe(401);
  });
});
