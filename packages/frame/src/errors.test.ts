import { readFileSync } from 'node:fs';
import { type ErrorCase, itKeepsTheErrorFamily } from '@gale/test-utils';
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

// Every error class @gale/frame exports: how to make one with `cause`, and the code it documents.
const CASES: ErrorCase[] = [
  {
    name: 'WebSocketError',
    Class: WebSocketError,
    make: (cause: Error) => new WebSocketError('ERR_INTERNAL', 'x', { cause }),
    code: 'ERR_INTERNAL',
    documented: null,
  },
  {
    name: 'ProtocolError',
    Class: ProtocolError,
    make: (cause: Error) => new ProtocolError('ERR_INVALID_OPCODE', 'x', 1002, { cause }),
    code: 'ERR_INVALID_OPCODE',
  },
  {
    name: 'PayloadTooBigError',
    Class: PayloadTooBigError,
    make: (cause: Error) => new PayloadTooBigError('x', { cause }),
    code: 'ERR_MESSAGE_TOO_BIG',
  },
  {
    name: 'InvalidStateError',
    Class: InvalidStateError,
    make: (cause: Error) => new InvalidStateError('x', { cause }),
    code: 'ERR_INVALID_STATE',
  },
  {
    name: 'InvalidArgumentError',
    Class: InvalidArgumentError,
    make: (cause: Error) => new InvalidArgumentError('x', { cause }),
    code: 'ERR_INVALID_ARGUMENT',
  },
  {
    name: 'HandshakeError',
    Class: HandshakeError,
    make: (cause: Error) => new HandshakeError('ERR_HANDSHAKE_STATUS', 'x', 404, {}, { cause }),
    code: 'ERR_HANDSHAKE_STATUS',
  },
  {
    name: 'WebSocketClosedError',
    Class: WebSocketClosedError,
    make: (cause: Error) => new WebSocketClosedError(undefined, { cause }),
    code: 'ERR_WEBSOCKET_CLOSED',
  },
];

describe('the error family', () => {
  itKeepsTheErrorFamily({
    exports: frame,
    root: WebSocketError,
    cases: CASES,
    readme: new URL('../README.md', import.meta.url),
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
