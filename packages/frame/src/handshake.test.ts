import { describe, expect, it } from 'vitest';
import { type ErrorCode, HandshakeError, InvalidArgumentError } from './errors.js';
import {
  acceptKey,
  buildRejection,
  buildResponse,
  createRequest,
  generateKey,
  type HeaderMap,
  validateRequest,
  validateResponse,
} from './handshake.js';

/** The sample key of RFC 6455 §1.3 and its accept value. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** The client handshake of RFC 6455 §1.3, with `overrides` applied (undefined removes a header). */
function clientHandshake(
  overrides: Record<string, string | string[] | undefined> = {},
  method = 'GET',
): { method: string; headers: HeaderMap } {
  const headers: Record<string, string | string[] | undefined> = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    origin: 'http://example.com',
    'sec-websocket-protocol': 'chat, superchat',
    'sec-websocket-version': '13',
    ...overrides,
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete headers[name];
  }
  return { method, headers };
}

/** The server handshake of RFC 6455 §1.3, with `overrides` applied (undefined removes a header). */
function serverHandshake(
  overrides: Record<string, string | string[] | undefined> = {},
  status = 101,
): { status: number; headers: HeaderMap } {
  return {
    status,
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-accept': ACCEPT,
      ...overrides,
    },
  };
}

const OFFERED = { key: KEY, subprotocols: ['chat', 'superchat'] };

/** Assert that `run` fails the handshake with this status, code and (optionally) message/headers. */
function expectHandshakeRejected(
  run: () => unknown,
  expected: {
    status: number;
    code: ErrorCode;
    message?: string;
    headers?: Record<string, string>;
  },
): HandshakeError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(HandshakeError);
  const error = caught as HandshakeError;
  expect({ status: error.status, code: error.code }).toEqual({
    status: expected.status,
    code: expected.code,
  });
  if (expected.message !== undefined) expect(error.message).toBe(expected.message);
  expect(error.headers).toEqual(expected.headers ?? {});
  return error;
}

/**
 * Parse a request or response head the way Node does for `IncomingMessage.headers`: lower-case
 * names, repeated lines joined with `, `.
 */
function parseHead(head: string): { startLine: string; headers: Record<string, string> } {
  expect(head.endsWith('\r\n\r\n')).toBe(true);
  const [startLine = '', ...lines] = head.slice(0, -4).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { startLine, headers };
}

describe('acceptKey', () => {
  it('hashes the sample key of RFC 6455 §1.3 to its sample accept value', () => {
    expect(acceptKey(KEY)).toBe(ACCEPT);
  });
});

describe('generateKey', () => {
  it('base64-encodes 16 bytes from the injected source', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(generateKey(() => bytes)).toBe('AAECAwQFBgcICQoLDA0ODw==');
  });

  it('encodes only the view it is given, not the whole underlying buffer', () => {
    const view = new Uint8Array(32).fill(0xff).subarray(8, 24).fill(0);
    expect(generateKey(() => view)).toBe('AAAAAAAAAAAAAAAAAAAAAA==');
  });

  it('produces fresh keys that a server accepts', () => {
    const key = generateKey();
    expect(key).not.toBe(generateKey());
    expect(validateRequest(clientHandshake({ 'sec-websocket-key': key })).key).toBe(key);
  });

  it('refuses a source that returns other than 16 bytes', () => {
    expect(() => generateKey(() => new Uint8Array(15))).toThrow(InvalidArgumentError);
  });
});

describe('validateRequest', () => {
  it('accepts the sample handshake of RFC 6455 §1.3 and returns what it asks for', () => {
    expect(validateRequest(clientHandshake())).toEqual({
      key: KEY,
      subprotocols: ['chat', 'superchat'],
      extensions: [],
      origin: 'http://example.com',
      host: 'server.example.com',
    });
  });

  it('accepts a handshake without Origin, subprotocols or extensions', () => {
    const handshake = validateRequest(
      clientHandshake({ origin: undefined, 'sec-websocket-protocol': undefined }),
    );
    expect(handshake.origin).toBeUndefined();
    expect(handshake.subprotocols).toEqual([]);
    expect(handshake.extensions).toEqual([]);
  });

  describe('method', () => {
    it('refuses anything but GET with 405 and Allow: GET', () => {
      for (const method of ['POST', 'HEAD', 'get']) {
        expectHandshakeRejected(() => validateRequest(clientHandshake({}, method)), {
          status: 405,
          code: 'ERR_HANDSHAKE_METHOD',
          headers: { Allow: 'GET' },
        });
      }
    });

    it('is checked before every header, so a POST with a bad key is a 405', () => {
      const request = clientHandshake(
        { upgrade: undefined, 'sec-websocket-key': 'bad', 'sec-websocket-version': '8' },
        'POST',
      );
      expectHandshakeRejected(() => validateRequest(request), {
        status: 405,
        code: 'ERR_HANDSHAKE_METHOD',
        headers: { Allow: 'GET' },
      });
    });
  });

  describe('Upgrade', () => {
    it('accepts websocket in any case and among other protocols', () => {
      for (const upgrade of [
        'WebSocket',
        'h2c, websocket',
        'HTTP/2.0, websocket',
        ['h2c', 'websocket'],
      ]) {
        expect(() => validateRequest(clientHandshake({ upgrade }))).not.toThrow();
      }
    });

    it('refuses a missing, different or malformed Upgrade with 400', () => {
      for (const upgrade of [undefined, '', 'h2c', 'websocket2', 'web socket', 'websocket;']) {
        expectHandshakeRejected(() => validateRequest(clientHandshake({ upgrade })), {
          status: 400,
          code: 'ERR_HANDSHAKE_UPGRADE',
          message: 'Can "Upgrade" only to "WebSocket".',
        });
      }
    });

    it('is checked before Connection, version and key', () => {
      const request = clientHandshake({
        upgrade: 'h2c',
        connection: 'close',
        'sec-websocket-version': '8',
        'sec-websocket-key': undefined,
      });
      expectHandshakeRejected(() => validateRequest(request), {
        status: 400,
        code: 'ERR_HANDSHAKE_UPGRADE',
      });
    });
  });

  describe('Connection', () => {
    it('accepts Upgrade in any case and among other options', () => {
      for (const connection of ['upgrade', 'keep-alive, Upgrade', ['keep-alive', 'Upgrade']]) {
        expect(() => validateRequest(clientHandshake({ connection }))).not.toThrow();
      }
    });

    it('refuses a missing, different or malformed Connection with 400', () => {
      for (const connection of [undefined, '', 'keep-alive', 'close', 'Upgrade keep-alive']) {
        expectHandshakeRejected(() => validateRequest(clientHandshake({ connection })), {
          status: 400,
          code: 'ERR_HANDSHAKE_CONNECTION',
          message: '"Connection" must be "Upgrade".',
        });
      }
    });
  });

  describe('Sec-WebSocket-Version', () => {
    it('accepts 13 on one line', () => {
      expect(() =>
        validateRequest(clientHandshake({ 'sec-websocket-version': ['13'] })),
      ).not.toThrow();
    });

    it('refuses anything but exactly 13 with 426 and Sec-WebSocket-Version: 13', () => {
      for (const version of [undefined, '', '8', '14', '13, 8', '013', '13.0', ['13', '13']]) {
        expectHandshakeRejected(
          () => validateRequest(clientHandshake({ 'sec-websocket-version': version })),
          {
            status: 426,
            code: 'ERR_HANDSHAKE_VERSION',
            headers: { 'Sec-WebSocket-Version': '13' },
          },
        );
      }
    });

    it('is checked before the key, so a bad version with a bad key is a 426', () => {
      const request = clientHandshake({ 'sec-websocket-version': '8', 'sec-websocket-key': 'bad' });
      expectHandshakeRejected(() => validateRequest(request), {
        status: 426,
        code: 'ERR_HANDSHAKE_VERSION',
        headers: { 'Sec-WebSocket-Version': '13' },
      });
    });
  });

  describe('Sec-WebSocket-Key', () => {
    it('refuses a missing key with 400', () => {
      expectHandshakeRejected(
        () => validateRequest(clientHandshake({ 'sec-websocket-key': undefined })),
        { status: 400, code: 'ERR_HANDSHAKE_KEY', message: 'Missing Sec-WebSocket-Key' },
      );
    });

    it('refuses a key that is not base64 for exactly 16 bytes with 400', () => {
      const invalid = [
        '',
        Buffer.alloc(15).toString('base64'), // 20 characters, no padding
        Buffer.alloc(17).toString('base64'), // 24 characters, one `=`
        'AAAAAAAAAAAAAAAAAAAAAA', // 16 bytes without the padding
        'AAAAAAAAAAAAAAAAAAAAAA=', // half the padding
        'AAAAAAAAAAAAAAAAAAAAAA===',
        'AAAAAAAAAAAAAAAAAAAAA===',
        'AAAAAAAAAAAAAAAAAAAA-_==', // base64url
        'AAAAAAAAAAAAAAAAAAAA.A==',
        ' AAAAAAAAAAAAAAAAAAAAA==',
        'AAAAAAAAAAAAAAAAAAAAAA== ',
        'AAAAAAAAAAAAAAAAAAAAAA\r\n',
        'AAAAAAAAAAAAAAAAAAAAAé==',
        `${KEY}, ${KEY}`, // repeated lines as Node joins them
        [KEY, KEY], // repeated lines as an array
        [],
      ];
      for (const key of invalid) {
        expectHandshakeRejected(
          () => validateRequest(clientHandshake({ 'sec-websocket-key': key })),
          { status: 400, code: 'ERR_HANDSHAKE_KEY', message: 'Invalid Sec-WebSocket-Key' },
        );
      }
    });

    it('accepts a key on one line given as an array', () => {
      expect(validateRequest(clientHandshake({ 'sec-websocket-key': [KEY] })).key).toBe(KEY);
    });

    it('is checked before Host', () => {
      const request = clientHandshake({ 'sec-websocket-key': undefined, host: undefined });
      expectHandshakeRejected(() => validateRequest(request), {
        status: 400,
        code: 'ERR_HANDSHAKE_KEY',
      });
    });
  });

  describe('Host', () => {
    it('refuses a missing, empty or repeated Host with 400', () => {
      for (const host of [undefined, '', ['a.example', 'b.example']]) {
        expectHandshakeRejected(() => validateRequest(clientHandshake({ host })), {
          status: 400,
          code: 'ERR_HANDSHAKE_HOST',
        });
      }
    });
  });

  describe('Sec-WebSocket-Protocol', () => {
    it('returns the offered subprotocols in order, across header lines', () => {
      const request = clientHandshake({ 'sec-websocket-protocol': ['chat , v2.chat', 'Chat'] });
      expect(validateRequest(request).subprotocols).toEqual(['chat', 'v2.chat', 'Chat']);
    });

    it('refuses a malformed, empty or duplicated list with 400', () => {
      for (const protocol of [
        'chat superchat',
        'chat;v2',
        'chat, "v2"',
        '',
        ' , ',
        'a, b, a',
        ['a', 'a'],
      ]) {
        expectHandshakeRejected(
          () => validateRequest(clientHandshake({ 'sec-websocket-protocol': protocol })),
          { status: 400, code: 'ERR_HANDSHAKE_HEADER' },
        );
      }
    });
  });

  describe('Sec-WebSocket-Extensions', () => {
    it('returns the offers across header lines', () => {
      const request = clientHandshake({
        'sec-websocket-extensions': [
          'permessage-deflate; client_max_window_bits="15"',
          'permessage-deflate',
        ],
      });
      expect(validateRequest(request).extensions).toEqual([
        { name: 'permessage-deflate', params: [['client_max_window_bits', '15']] },
        { name: 'permessage-deflate', params: [] },
      ]);
    });

    it('refuses a malformed header with 400, keeping the parse error as the cause', () => {
      for (const extensions of [';', 'a;;b', 'a; b=', 'a; b="1', 'a; b="1 0"', '']) {
        const error = expectHandshakeRejected(
          () => validateRequest(clientHandshake({ 'sec-websocket-extensions': extensions })),
          { status: 400, code: 'ERR_HANDSHAKE_EXTENSION' },
        );
        expect(error.cause).toBeInstanceOf(SyntaxError);
      }
    });
  });

  describe('Origin', () => {
    it('refuses Origin on several lines with 400', () => {
      const request = clientHandshake({ origin: ['http://example.com', 'http://evil.example'] });
      expectHandshakeRejected(() => validateRequest(request), {
        status: 400,
        code: 'ERR_HANDSHAKE_HEADER',
      });
    });
  });

  it('answers the CVE-2021-32640 inputs with 400, with 50,000 or 500,000 spaces', () => {
    for (const n of [50_000, 500_000]) {
      const padding = ' '.repeat(n);
      expectHandshakeRejected(
        () => validateRequest(clientHandshake({ 'sec-websocket-protocol': `b${padding}x` })),
        { status: 400, code: 'ERR_HANDSHAKE_HEADER' },
      );
      expectHandshakeRejected(
        () => validateRequest(clientHandshake({ 'sec-websocket-extensions': `b${padding}x` })),
        { status: 400, code: 'ERR_HANDSHAKE_EXTENSION' },
      );
      expectHandshakeRejected(
        () => validateRequest(clientHandshake({ connection: `keep-alive${padding}x` })),
        { status: 400, code: 'ERR_HANDSHAKE_CONNECTION' },
      );
      const padded = clientHandshake({ 'sec-websocket-protocol': `chat${padding},${padding}x` });
      expect(validateRequest(padded).subprotocols).toEqual(['chat', 'x']);
    }
  });
});

describe('buildResponse', () => {
  it('writes the sample response of RFC 6455 §1.3', () => {
    expect(buildResponse({ key: KEY, subprotocol: 'chat' })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  it('writes extensions and extra headers, one line per array element', () => {
    const head = buildResponse({
      key: KEY,
      subprotocol: null,
      extensions: 'permessage-deflate; server_no_context_takeover',
      headers: { 'Set-Cookie': ['a=1', 'b=2'], 'X-Powered-By': 'gale' },
    });
    expect(head).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'Set-Cookie: a=1\r\n' +
        'Set-Cookie: b=2\r\n' +
        'X-Powered-By: gale\r\n' +
        '\r\n',
    );
  });

  it('omits empty extensions', () => {
    expect(buildResponse({ key: KEY, extensions: '' })).not.toContain('Extensions');
  });

  it('refuses CR, LF and NUL in headers, so the response cannot be split', () => {
    const attempts = [
      { key: KEY, extensions: 'x\r\nSet-Cookie: a=1' },
      { key: KEY, headers: { 'X-A': 'a\r\n\r\n<script>' } },
      { key: KEY, headers: { 'X-A': 'a\nX-B: b' } },
      { key: KEY, headers: { 'X-A': 'a\rX-B: b' } },
      { key: KEY, headers: { 'X-A': 'a\0' } },
      { key: KEY, headers: { 'X-A': ['ok', 'a\r\n'] } },
      { key: KEY, headers: { 'X-A\r\nX-B': 'b' } },
      { key: KEY, headers: { 'X A': 'b' } },
      { key: KEY, subprotocol: 'chat\r\nX-B: b' },
    ];
    for (const options of attempts) {
      expect(() => buildResponse(options), JSON.stringify(options)).toThrow(InvalidArgumentError);
    }
  });

  it('refuses extra headers that repeat the handshake headers, in any case', () => {
    for (const name of [
      'sec-websocket-accept',
      'Upgrade',
      'CONNECTION',
      'Sec-WebSocket-Protocol',
    ]) {
      expect(() => buildResponse({ key: KEY, headers: { [name]: 'x' } }), name).toThrow(
        InvalidArgumentError,
      );
    }
  });
});

describe('buildRejection', () => {
  it('writes a text/plain error response that closes the connection', () => {
    expect(
      buildRejection(426, 'Sec-WebSocket-Version must be 13', { 'Sec-WebSocket-Version': '13' }),
    ).toBe(
      'HTTP/1.1 426 Upgrade Required\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 32\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        '\r\n' +
        'Sec-WebSocket-Version must be 13',
    );
  });

  it('turns a HandshakeError into its response', () => {
    const error = expectHandshakeRejected(() => validateRequest(clientHandshake({}, 'POST')), {
      status: 405,
      code: 'ERR_HANDSHAKE_METHOD',
      headers: { Allow: 'GET' },
    });
    const response = buildRejection(error.status, error.message, error.headers);
    const end = response.indexOf('\r\n\r\n') + 4;
    const { startLine, headers } = parseHead(response.slice(0, end));
    expect(startLine).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(headers).toMatchObject({ allow: 'GET', 'content-length': String(error.message.length) });
    expect(response.slice(end)).toBe(error.message);
  });

  it('counts the body in UTF-8 bytes', () => {
    expect(buildRejection(400, 'héllo')).toContain('Content-Length: 6\r\n');
  });

  it('lets the caller replace Content-Type but not the framing headers', () => {
    const html = buildRejection(401, '<p>no</p>', { 'content-type': 'text/html' });
    expect(html).toContain('Content-Type: text/html\r\n');
    expect(html).not.toContain('text/plain');
    for (const name of ['Content-Length', 'connection', 'Transfer-Encoding']) {
      expect(() => buildRejection(400, 'x', { [name]: '1' }), name).toThrow(InvalidArgumentError);
    }
  });

  it('refuses CR, LF and NUL in headers and invalid statuses', () => {
    expect(() => buildRejection(302, '', { Location: '/\r\nSet-Cookie: a=1' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => buildRejection(400, '', { 'X-A': '\0' })).toThrow(InvalidArgumentError);
    for (const status of [99, 600, 400.5, Number.NaN]) {
      expect(() => buildRejection(status, ''), String(status)).toThrow(InvalidArgumentError);
    }
  });

  it('uses a generic reason phrase for a status Node does not name', () => {
    expect(buildRejection(499, '')).toMatch(/^HTTP\/1\.1 499 Unknown\r\n/);
  });
});

describe('createRequest', () => {
  it('writes the sample request of RFC 6455 §1.3', () => {
    const { key, head } = createRequest({
      host: 'server.example.com',
      path: '/chat',
      key: KEY,
      subprotocols: ['chat', 'superchat'],
      origin: 'http://example.com',
    });
    expect(key).toBe(KEY);
    expect(head).toBe(
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Origin: http://example.com\r\n' +
        '\r\n',
    );
  });

  it('generates a key when none is given and writes extensions and extra headers', () => {
    const { key, head } = createRequest({
      host: '[::1]:8080',
      path: '/?token=a%20b',
      extensions: 'permessage-deflate; client_max_window_bits',
      headers: { Authorization: 'Bearer x', Cookie: ['a=1', 'b=2'] },
    });
    expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    const { startLine, headers } = parseHead(head);
    expect(startLine).toBe('GET /?token=a%20b HTTP/1.1');
    expect(headers).toEqual({
      host: '[::1]:8080',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': key,
      'sec-websocket-version': '13',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      authorization: 'Bearer x',
      cookie: 'a=1, b=2',
    });
  });

  it('refuses subprotocols that are not tokens or are duplicated', () => {
    for (const subprotocols of [['chat', 'chat'], ['a b'], [''], ['chat,v2'], ['x\r\nX-B: b']]) {
      expect(
        () => createRequest({ host: 'h', path: '/', subprotocols }),
        JSON.stringify(subprotocols),
      ).toThrow(InvalidArgumentError);
    }
  });

  it('refuses a request line or header that could be split', () => {
    const attempts = [
      { host: 'h', path: 'chat' },
      { host: 'h', path: '' },
      { host: 'h', path: '/a b' },
      { host: 'h', path: '/\r\nX-B: b' },
      { host: 'h', path: '/é' },
      { host: '', path: '/' },
      { host: 'h\r\nX-B: b', path: '/' },
      { host: 'h', path: '/', key: 'short' },
      { host: 'h', path: '/', origin: 'http://a\r\nX-B: b' },
      { host: 'h', path: '/', extensions: 'x\nX-B: b' },
      { host: 'h', path: '/', headers: { 'X-A': 'a\0' } },
      { host: 'h', path: '/', headers: { 'X-A\n': 'a' } },
      { host: 'h', path: '/', headers: { 'Sec-WebSocket-Key': KEY } },
      { host: 'h', path: '/', headers: { host: 'other' } },
    ];
    for (const options of attempts) {
      expect(() => createRequest(options), JSON.stringify(options)).toThrow(InvalidArgumentError);
    }
  });
});

describe('a round trip between createRequest, validateRequest, buildResponse and validateResponse', () => {
  it('agrees on the key, the subprotocol and the extensions', () => {
    const { key, head } = createRequest({
      host: 'localhost:8080',
      path: '/chat',
      subprotocols: ['v2.chat', 'chat'],
      extensions: 'permessage-deflate; client_max_window_bits',
      origin: 'http://localhost:8080',
    });
    const request = parseHead(head);
    const handshake = validateRequest({ method: 'GET', headers: request.headers });
    expect(handshake).toEqual({
      key,
      subprotocols: ['v2.chat', 'chat'],
      extensions: [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
      origin: 'http://localhost:8080',
      host: 'localhost:8080',
    });

    const response = parseHead(
      buildResponse({
        key: handshake.key,
        subprotocol: 'chat',
        extensions: 'permessage-deflate; client_max_window_bits=15',
      }),
    );
    expect(response.startLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(response.headers['sec-websocket-accept']).toBe(acceptKey(key));
    expect(
      validateResponse(
        { status: 101, headers: response.headers },
        { key, subprotocols: ['v2.chat', 'chat'] },
      ),
    ).toEqual({
      subprotocol: 'chat',
      extensions: [{ name: 'permessage-deflate', params: [['client_max_window_bits', '15']] }],
    });
  });
});

describe('validateResponse', () => {
  it('accepts the sample response of RFC 6455 §1.3', () => {
    expect(
      validateResponse(serverHandshake({ 'sec-websocket-protocol': 'chat' }), OFFERED),
    ).toEqual({ subprotocol: 'chat', extensions: [] });
  });

  it('returns no subprotocol when the server selects none', () => {
    expect(validateResponse(serverHandshake(), OFFERED).subprotocol).toBeNull();
    expect(validateResponse(serverHandshake(), { key: KEY, subprotocols: [] })).toEqual({
      subprotocol: null,
      extensions: [],
    });
  });

  it('accepts Upgrade and Connection in any case, and Connection among other options', () => {
    const response = serverHandshake({ upgrade: 'WebSocket', connection: 'keep-alive, upgrade' });
    expect(() => validateResponse(response, OFFERED)).not.toThrow();
  });

  it('reports a 200 as not a WebSocket endpoint', () => {
    expectHandshakeRejected(() => validateResponse(serverHandshake({}, 200), OFFERED), {
      status: 200,
      code: 'ERR_HANDSHAKE_STATUS',
      message: 'Server responded with 200: not a WebSocket endpoint',
    });
  });

  it('reports any other status but 101 with that status', () => {
    for (const status of [403, 404, 302, 426, 500]) {
      expectHandshakeRejected(() => validateResponse(serverHandshake({}, status), OFFERED), {
        status,
        code: 'ERR_HANDSHAKE_STATUS',
      });
    }
    expect(() => validateResponse(serverHandshake({}, 404), OFFERED)).toThrow(
      'Server responded with 404 Not Found',
    );
  });

  it('refuses an Upgrade that is missing or is not only websocket', () => {
    for (const upgrade of [undefined, '', 'h2c', 'websocket, h2c', 'web socket']) {
      expectHandshakeRejected(() => validateResponse(serverHandshake({ upgrade }), OFFERED), {
        status: 101,
        code: 'ERR_HANDSHAKE_UPGRADE',
      });
    }
  });

  it('refuses a Connection without Upgrade', () => {
    for (const connection of [undefined, '', 'keep-alive', 'close']) {
      expectHandshakeRejected(() => validateResponse(serverHandshake({ connection }), OFFERED), {
        status: 101,
        code: 'ERR_HANDSHAKE_CONNECTION',
      });
    }
  });

  it('refuses a missing, wrong or repeated Sec-WebSocket-Accept', () => {
    const wrong = acceptKey('AAAAAAAAAAAAAAAAAAAAAA==');
    for (const accept of [
      undefined,
      '',
      wrong,
      ACCEPT.toLowerCase(),
      ` ${ACCEPT}`,
      [ACCEPT, ACCEPT],
    ]) {
      expectHandshakeRejected(
        () => validateResponse(serverHandshake({ 'sec-websocket-accept': accept }), OFFERED),
        { status: 101, code: 'ERR_HANDSHAKE_ACCEPT' },
      );
    }
  });

  it('refuses a subprotocol that was not offered', () => {
    for (const protocol of ['v3.chat', 'Chat', '', 'chat, superchat', ['chat', 'chat']]) {
      expectHandshakeRejected(
        () => validateResponse(serverHandshake({ 'sec-websocket-protocol': protocol }), OFFERED),
        { status: 101, code: 'ERR_HANDSHAKE_SUBPROTOCOL' },
      );
    }
  });

  it('refuses a subprotocol when none was offered', () => {
    const response = serverHandshake({ 'sec-websocket-protocol': 'chat' });
    expectHandshakeRejected(() => validateResponse(response, { key: KEY, subprotocols: [] }), {
      status: 101,
      code: 'ERR_HANDSHAKE_SUBPROTOCOL',
      message: 'Server selected a subprotocol although none was offered',
    });
  });

  it('returns the extensions for the negotiator and refuses malformed ones', () => {
    const accepted = serverHandshake({
      'sec-websocket-extensions': 'permessage-deflate; server_no_context_takeover',
    });
    expect(validateResponse(accepted, OFFERED).extensions).toEqual([
      { name: 'permessage-deflate', params: [['server_no_context_takeover', true]] },
    ]);
    const malformed = serverHandshake({ 'sec-websocket-extensions': 'permessage-deflate;' });
    expectHandshakeRejected(() => validateResponse(malformed, OFFERED), {
      status: 101,
      code: 'ERR_HANDSHAKE_EXTENSION',
    });
  });
});
