import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as frame from './index.js';
import {
  HandshakeError,
  InvalidArgumentError,
  InvalidStateError,
  PayloadTooBigError,
  ProtocolError,
  WebSocketClosedError,
  WebSocketError,
} from './index.js';

const cause = new Error('the cause');

// Every error class @gale/frame exports: how to make one with `cause`, and the code it documents.
const CASES = [
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: () => new WebSocketError('ERR_INTERNAL', 'x', { cause }),
    code: 'ERR_INTERNAL',
  },
  {
    name: 'ProtocolError',
    Class: ProtocolError,
    make: () => new ProtocolError('ERR_INVALID_OPCODE', 'x', 1002, { cause }),
    code: 'ERR_INVALID_OPCODE',
  },
  {
    name: 'PayloadTooBigError',
    Class: PayloadTooBigError,
    make: () => new PayloadTooBigError('x', { cause }),
    code: 'ERR_MESSAGE_TOO_BIG',
  },
  {
    name: 'InvalidStateError',
    Class: InvalidStateError,
    make: () => new InvalidStateError('x', { cause }),
    code: 'ERR_INVALID_STATE',
  },
  {
    name: 'InvalidArgumentError',
    Class: InvalidArgumentError,
    make: () => new InvalidArgumentError('x', { cause }),
    code: 'ERR_INVALID_ARGUMENT',
  },
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: () => new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 404, {}, { cause }),
    code: 'ERR_HANDSHAKE_STATUS',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: () => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
];

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the error family', () => {
  it('lists every error class @gale/frame exports', () => {
    const exported = Object.values(frame).filter(
      (value) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(new Set(exported)).toEqual(new Set(CASES.map(({ Class }) => Class)));
  });

  it.each(CASES)('$name is a WebSocketError with its code, its name and the cause', (each) => {
    const error = each.make();
    expect(error).toBeInstanceOf(each.Class);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toBeInstanceOf(Error);
    expect(each.Class.name).toBe(each.name);
    expect(error.name).toBe(each.name);
    expect(error.code).toBe(each.code);
    expect(error.cause).toBe(cause);
  });

  it.each(CASES.slice(1))('the README error table has $name with $code', ({ name, code }) => {
    const row = readme.split('\n').find((line) => line.includes(`\`${code}\``));
    expect(row ?? '(no row)', code).toContain(`\`${name}\``);
  });

  // @gale/client's browser build imports @gale/frame/errors (this module) as it is.
  it('@gale/frame/errors loads without Node: it imports only the close codes', () => {
    const imports = (file: string): string[] =>
      [
        ...readFileSync(new URL(file, import.meta.url), 'utf8').matchAll(
          /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm,
        ),
      ].map((match) => match[1] ?? match[2]!);
    expect(imports('./errors.ts')).toEqual(['./close-code.js']);
    expect(imports('./close-code.ts')).toEqual([]);
  });

  it('keeps the close code on protocol errors', () => {
    expect(new ProtocolError('ERR_INVALID_UTF8', 'x', 1007).closeCode).toBe(1007);
    expect(new PayloadTooBigError('x').closeCode).toBe(1009);
  });
});
