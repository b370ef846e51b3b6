import { describe, expect, it } from 'vitest';
import { HandshakeError } from './errors.js';
import {
  findHeadEnd,
  parseHeaderFields,
  parseRequestHead,
  parseRequestLine,
} from './request-head.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** The opening handshake of RFC 6455 §1.3, as bytes. */
const HANDSHAKE =
  'GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n' +
  'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n\r\n';

function expectBadRequest(head: string, fragment: string): void {
  let caught: unknown;
  try {
    parseRequestHead(latin1(head));
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(HandshakeError);
  expect((caught as HandshakeError).status).toBe(400);
  expect((caught as HandshakeError).code).toBe('ERR_HANDSHAKE_HEADER');
  expect((caught as HandshakeError).message).toContain(fragment);
}

describe('parseRequestHead', () => {
  it('reads the RFC 6455 handshake into lower-case names, values trimmed, and where it ends', () => {
    const bytes = latin1(`${HANDSHAKE}\x81\x00`);
    const head = parseRequestHead(bytes);
    expect(head).toEqual({
      method: 'GET',
      target: '/chat?room=1',
      headers: {
        host: 'server.example.com',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-version': '13',
      },
      end: HANDSHAKE.length,
    });
    expect(bytes.subarray(head!.end)).toEqual(Buffer.from([0x81, 0x00]));
  });

  it('keeps every value as sent, in its own case, whether or not it is one it shares', () => {
    const values = [
      'websocket',
      'WebSocket',
      'WEBSOCKET',
      'websockets',
      'websocke',
      'Upgrade',
      'upgradE',
      '13',
      '31',
      'keep-alive, Upgrade',
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; client_max_window_bitz',
    ];
    for (const value of values) {
      const head = parseRequestHead(latin1(`GET / HTTP/1.1\r\nX-Value: ${value}\r\n\r\n`));
      expect(head?.headers['x-value']).toBe(value);
    }
  });

  it('returns undefined until the blank line arrives', () => {
    for (let n = 0; n < HANDSHAKE.length; n++) {
      expect(parseRequestHead(latin1(HANDSHAKE.slice(0, n)))).toBeUndefined();
    }
  });

  it('joins repeated lines as node:http does', () => {
    const head = parseRequestHead(
      latin1(
        'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1\r\nCookie: b=2\r\n' +
          'Set-Cookie: c=3\r\nSet-Cookie: d=4\r\nUser-Agent: first\r\nUser-Agent: second\r\n\r\n',
      ),
    );
    expect(head?.headers).toEqual({
      host: 'x',
      'x-a': '1, 2',
      cookie: 'a=1; b=2',
      'set-cookie': ['c=3', 'd=4'],
      'user-agent': 'first',
    });
  });

  it('keeps empty values, OWS-only values, tabs inside values and obs-text as Latin-1', () => {
    const head = parseRequestHead(
      latin1(
        'GET / HTTP/1.1\r\nX-Empty:\r\nX-Blank: \t \r\nX-Tab: a\tb\r\nX-Text: caf\xe9\r\n\r\n',
      ),
    );
    expect(head?.headers).toEqual({
      'x-empty': '',
      'x-blank': '',
      'x-tab': 'a\tb',
      'x-text': 'café',
    });
  });

  it('treats __proto__ and constructor as plain field names', () => {
    const head = parseRequestHead(
      latin1('GET / HTTP/1.1\r\n__proto__: a\r\nconstructor: b\r\nconstructor: c\r\n\r\n'),
    );
    expect(Object.getOwnPropertyDescriptor(head?.headers, '__proto__')?.value).toBe('a');
    expect(head?.headers['constructor']).toBe('b, c');
    // Nothing is inherited: a field that was not sent reads undefined, whatever its name.
    const plain = parseRequestHead(latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))!.headers;
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(plain[name]).toBeUndefined();
    }
    expect(Object.getPrototypeOf(Object.getPrototypeOf(plain))).toBeNull();
  });

  it('answers 400 for whitespace before the colon, obs-fold, bare CR or LF, NUL and DEL', () => {
    expectBadRequest('GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'invalid header name');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n', 'folded');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\r\n\tcontinued\r\n\r\n', 'folded');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n', 'bare CR');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n', 'bare LF');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\0\r\n\r\n', 'control character');
    expectBadRequest('GET / HTTP/1.1\r\nHost: x\x7f\r\n\r\n', 'control character');
    expectBadRequest('GET / HTTP/1.1\r\nHo(st: x\r\n\r\n', 'invalid header name');
    expectBadRequest('GET / HTTP/1.1\r\n: x\r\n\r\n', 'invalid header name');
    expectBadRequest('GET / HTTP/1.1\r\nHost\r\n\r\n', 'invalid header name');
  });

  it('answers 400 for a second Host line (RFC 9112 §3.2)', () => {
    expectBadRequest('GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 'more than one Host');
  });

  it('answers 400 for a request line it does not take', () => {
    expectBadRequest('GET / HTTP/1.0\r\nHost: x\r\n\r\n', 'request line');
  });
});

describe('parseRequestLine', () => {
  it('reads method and target, and where the header fields start', () => {
    expect(parseRequestLine(latin1('GET /a?b=c HTTP/1.1\r\nHost'))).toEqual({
      method: 'GET',
      target: '/a?b=c',
      end: 21,
    });
    expect(parseRequestLine(latin1('POST / HTTP/1.1\r\n'))?.method).toBe('POST');
  });

  it('waits for the line ending, and only within length', () => {
    expect(parseRequestLine(latin1('GET / HTTP/1.1\r'))).toBeUndefined();
    expect(parseRequestLine(latin1('GET / HTTP/1.1\r\n'), 15)).toBeUndefined();
  });

  it.each([
    ['another version', 'GET / HTTP/1.0\r\n'],
    ['HTTP/2', 'GET / HTTP/2.0\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\n'],
    ['two spaces', 'GET  / HTTP/1.1\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n'],
    ['no target', 'GET HTTP/1.1\r\n'],
    ['a control in the target', 'GET /a\tb HTTP/1.1\r\n'],
    ['obs-text in the target', 'GET /caf\xe9 HTTP/1.1\r\n'],
    ['no method', ' / HTTP/1.1\r\n'],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\n'],
    ['a lower-case version', 'GET / http/1.1\r\n'],
    ['an empty line', '\r\nGET / HTTP/1.1\r\n'],
    ['binary junk', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\r\n'],
  ])('returns null for %s, for a general HTTP parser to answer', (_what, line) => {
    expect(parseRequestLine(latin1(line))).toBeNull();
  });
});

describe('findHeadEnd', () => {
  it('finds the blank line from a resumed scan, byte by byte', () => {
    const bytes = latin1(HANDSHAKE);
    let end = -1;
    let from = 0;
    for (let length = 1; length <= bytes.length && end === -1; length++) {
      end = findHeadEnd(bytes, from, length);
      from = length;
    }
    expect(end).toBe(bytes.length);
  });

  it('throws 400 at a bare LF, even as the first byte', () => {
    expect(() => findHeadEnd(latin1('\n'))).toThrow(HandshakeError);
    expect(() => findHeadEnd(latin1('GET / HTTP/1.1\r\nHost: x\n\n'))).toThrow('bare LF');
  });
});

describe('parseHeaderFields', () => {
  it('reads nothing from a head with no fields', () => {
    const bytes = latin1('GET / HTTP/1.1\r\n\r\n');
    expect(parseHeaderFields(bytes, 16, findHeadEnd(bytes))).toEqual({});
  });
});

// Linear whatever the input: every scan moves forward (CVE-2021-32640 was a regex that did not).
// The answers are checked; a quadratic regression would time these out.
describe.each([100_000, 1_000_000])('with %i bytes of adversarial input', (n) => {
  it('reads one huge header value padded with whitespace', () => {
    const head = parseRequestHead(
      latin1(
        `GET / HTTP/1.1\r\nX-Big:${' '.repeat(n)}a${' \t'.repeat(n)}b${' '.repeat(n)}\r\n\r\n`,
      ),
    );
    expect(head?.headers['x-big']).toBe(`a${' \t'.repeat(n)}b`);
  });

  it('reads many headers, distinct and repeated', () => {
    const lines = n / 10;
    const distinct = Array.from({ length: lines }, (_, i) => `x-${i}: ${i}\r\n`).join('');
    const head = parseRequestHead(latin1(`GET / HTTP/1.1\r\n${distinct}\r\n`));
    expect(Object.keys(head!.headers)).toHaveLength(lines);
    const repeated = parseRequestHead(latin1(`GET / HTTP/1.1\r\n${'a: b\r\n'.repeat(lines)}\r\n`));
    expect(repeated!.headers['a']).toHaveLength(3 * lines - 2);
  });

  it('refuses a long run of whitespace before a colon or a fold at once', () => {
    expectBadRequest(`GET / HTTP/1.1\r\nX${' '.repeat(n)}: a\r\n\r\n`, 'invalid header name');
    expectBadRequest(`GET / HTTP/1.1\r\nX: a\r\n${' '.repeat(n)}b\r\n\r\n`, 'folded');
  });

  it('scans a long run of CRLF pairs and lone CRs for the end', () => {
    const crs = latin1(`GET / HTTP/1.1\r\nX: ${'\r'.repeat(n)}`);
    expect(findHeadEnd(crs)).toBe(-1);
    expect(parseRequestLine(latin1(`GET /${'a'.repeat(n)} HTTP/1.1\r\n`))?.target).toHaveLength(
      n + 1,
    );
  });
});
