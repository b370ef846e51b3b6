import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prng } from '../test/helpers.js';
import {
  HandshakeError,
  InvalidArgumentError,
  PayloadTooBigError,
  ProtocolError,
} from './errors.js';
import type { ExtensionOffer } from './extension.js';
import {
  acceptDeflateResponse,
  type DeflateOptions,
  type DeflateParameters,
  negotiateDeflate,
  offerDeflate,
  PerMessageDeflate,
} from './permessage-deflate.js';

// --- Helpers ----------------------------------------------------------------------------------

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

const DEFAULT_PARAMS: DeflateParameters = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

function hex(text: string): Uint8Array {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

/**
 * Byte equality, much faster than a deep `toEqual` on large buffers; on failure it shows the
 * lengths and 16 bytes from the first difference.
 */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (Buffer.compare(actual, expected) === 0) return;
  let at = 0;
  while (at < actual.byteLength && actual[at] === expected[at]) at++;
  const around = (data: Uint8Array) => ({
    byteLength: data.byteLength,
    at,
    bytes: toHex(data.subarray(at, at + 16)),
  });
  expect(around(actual)).toEqual(around(expected));
}

function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

/** A server and a client extension that agreed on `params`. */
function pair(
  params: Partial<DeflateParameters> = {},
  options: DeflateOptions = {},
): { server: PerMessageDeflate; client: PerMessageDeflate } {
  const agreed = { ...DEFAULT_PARAMS, ...params };
  return {
    server: new PerMessageDeflate(agreed, true, options),
    client: new PerMessageDeflate(agreed, false, options),
  };
}

/**
 * A minimal `Sec-WebSocket-Extensions` parser for the values these tests build; the real one
 * lives in headers.ts.
 */
function parseExtensions(value: string): ExtensionOffer[] {
  return value
    .split(',')
    .filter((element) => element.trim() !== '')
    .map((element) => {
      const [name = '', ...params] = element.split(';').map((part) => part.trim());
      return {
        name,
        params: params.map((param): readonly [string, string | true] => {
          const equals = param.indexOf('=');
          if (equals === -1) return [param, true];
          return [
            param.slice(0, equals).trim(),
            param
              .slice(equals + 1)
              .trim()
              .replace(/^"|"$/g, ''),
          ];
        }),
      };
    });
}

function expectHandshakeFailure(response: string, options: DeflateOptions = {}): HandshakeError {
  let caught: unknown;
  try {
    acceptDeflateResponse(parseExtensions(response), options);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(HandshakeError);
  const error = caught as HandshakeError;
  expect(error.code).toBe('ERR_HANDSHAKE_EXTENSION');
  expect(error.status).toBe(101);
  return error;
}

function expectDecodeFailure(
  extension: PerMessageDeflate,
  data: Uint8Array,
  maxSize = Number.POSITIVE_INFINITY,
): ProtocolError {
  let caught: unknown;
  try {
    extension.decode(data, maxSize);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  return caught as ProtocolError;
}

/**
 * Messages that exercise context takeover: text from a small vocabulary, exact repeats of earlier
 * messages (back-references into history), incompressible bytes, empty messages and messages
 * larger than the 32 KiB window.
 */
function randomMessages(seed: number, count: number): Uint8Array[] {
  const next = prng(seed);
  const int = (max: number) => Math.floor(next() * max);
  const vocabulary = Array.from({ length: 200 }, () =>
    Array.from({ length: 2 + int(10) }, () => String.fromCharCode(97 + int(26))).join(''),
  );
  const text = (size: number) => {
    let out = '';
    while (out.length < size) out += `${vocabulary[int(vocabulary.length)]} `;
    return utf8(out.slice(0, size));
  };
  const messages: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = int(10);
    const earlier = messages[int(messages.length)];
    if (kind < 4) messages.push(text(int(4000)));
    else if (kind < 6 && earlier !== undefined) messages.push(earlier.slice());
    else if (kind < 7) messages.push(Uint8Array.from({ length: int(3000) }, () => int(256)));
    else if (kind < 8) messages.push(new Uint8Array(0));
    else if (kind < 9) messages.push(text(33_000 + int(40_000)));
    else messages.push(text(int(300)));
  }
  return messages;
}

/** Split `data` into `count` fragments (some possibly empty). */
function fragments(data: Uint8Array, count: number, next: () => number): Uint8Array[] {
  const cuts = Array.from({ length: count - 1 }, () => Math.floor(next() * (data.byteLength + 1)));
  cuts.sort((a, b) => a - b);
  const bounds = [0, ...cuts, data.byteLength];
  return bounds.slice(1).map((end, i) => data.subarray(bounds[i], end));
}

function encodeFragments(extension: PerMessageDeflate, parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((part, i) => extension.encode(part, i === parts.length - 1)));
}

/** Write `data` to a long-lived zlib stream and collect what one Z_SYNC_FLUSH produces. */
function flushThrough(
  stream: zlib.DeflateRaw | zlib.InflateRaw,
  data: Uint8Array,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const streamOnData = (chunk: Buffer) => chunks.push(chunk);
    stream.on('data', streamOnData);
    stream.once('error', reject);
    stream.write(data);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off('data', streamOnData);
      stream.off('error', reject);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** DEFLATE distance codes (RFC 1951 §3.2.5): base distance of each code. */
const DISTANCE_BASES = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
];

/**
 * A message payload made of one fixed-Huffman block holding a single 3-byte match `distance`
 * bytes back, as a non-zlib encoder may produce (zlib never reaches back further than
 * 2^windowBits − 262). It ends with the 3 header bits of the empty stored block whose remaining
 * 4 octets the receiver appends (§7.2.2).
 */
function backReference(distance: number): Uint8Array {
  const bits: number[] = [];
  const putBits = (value: number, count: number) => {
    for (let i = 0; i < count; i++) bits.push((value >> i) & 1);
  };
  const putHuffman = (code: number, count: number) => {
    for (let i = count - 1; i >= 0; i--) bits.push((code >> i) & 1);
  };
  putBits(0, 1); // BFINAL = 0
  putBits(1, 2); // BTYPE = 01, fixed Huffman codes
  putHuffman(0b0000001, 7); // literal/length code 257: length 3
  const code = DISTANCE_BASES.findLastIndex((base) => base <= distance);
  putHuffman(code, 5);
  putBits(distance - (DISTANCE_BASES[code] ?? 0), code < 4 ? 0 : (code >> 1) - 1);
  putHuffman(0, 7); // code 256: end of block
  putBits(0, 3); // BFINAL = 0, BTYPE = 00: the stored block completed by 00 00 ff ff
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => {
    bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (bit << (i & 7));
  });
  return bytes;
}

/** The slice of ws's API that these tests drive (ws/lib/permessage-deflate.js is CommonJS). */
interface WsPerMessageDeflate {
  offer(): Record<string, unknown>;
  accept(configurations: unknown): Record<string, unknown>;
  compress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, data?: Buffer) => void,
  ): void;
  decompress(
    data: Buffer,
    fin: boolean,
    callback: (error: Error | null, data?: Buffer) => void,
  ): void;
  cleanup(): void;
}

const require = createRequire(import.meta.url);
// ws's "exports" map hides lib/, so load its files by path.
const wsLib = join(dirname(require.resolve('ws')), 'lib');
const WsPerMessageDeflate = require(join(wsLib, 'permessage-deflate.js')) as new (
  options: Record<string, unknown>,
) => WsPerMessageDeflate;
const wsExtension = require(join(wsLib, 'extension.js')) as {
  parse(header: string): Record<string, unknown[]>;
  format(extensions: Record<string, unknown>): string;
};

function wsCall(
  method: 'compress' | 'decompress',
  ws: WsPerMessageDeflate,
  data: Uint8Array,
  fin: boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    ws[method](Buffer.from(data), fin, (error, result) => {
      if (error) reject(error);
      else resolve(result ?? Buffer.alloc(0));
    });
  });
}

// --- RFC 7692 §7.2.3 examples ----------------------------------------------------------------

describe('RFC 7692 §7.2.3 examples', () => {
  it('compresses "Hello" into f2 48 cd c9 c9 07 00 (§7.2.3.1)', () => {
    const { client } = pair();
    expect(toHex(client.encode(utf8('Hello'), true))).toBe('f248cdc9c90700');
  });

  it('decodes "Hello" sent in fragments of 3 and 4 octets (§7.2.3.1)', () => {
    const { server } = pair();
    const message = Buffer.concat([hex('f2 48 cd'), hex('c9 c9 07 00')]);
    expect(Buffer.from(server.decode(message, 1000)).toString()).toBe('Hello');
  });

  it('compresses a second "Hello" into f2 00 11 00 00 with context takeover (§7.2.3.2)', () => {
    const { client } = pair();
    expect(toHex(client.encode(utf8('Hello'), true))).toBe('f248cdc9c90700');
    expect(toHex(client.encode(utf8('Hello'), true))).toBe('f200110000');
  });

  it('compresses a second "Hello" into the same bytes with client_no_context_takeover (§7.2.3.2)', () => {
    const { client } = pair({ clientNoContextTakeover: true });
    expect(toHex(client.encode(utf8('Hello'), true))).toBe('f248cdc9c90700');
    expect(toHex(client.encode(utf8('Hello'), true))).toBe('f248cdc9c90700');
  });

  it('decodes the two messages of §7.2.3.2 by taking over the sliding window', () => {
    const { server } = pair();
    expect(Buffer.from(server.decode(hex('f2 48 cd c9 c9 07 00'), 1000)).toString()).toBe('Hello');
    expect(Buffer.from(server.decode(hex('f2 00 11 00 00'), 1000)).toString()).toBe('Hello');
  });

  it('decodes a DEFLATE block with no compression (§7.2.3.3)', () => {
    const { server } = pair();
    const message = hex('00 05 00 fa ff 48 65 6c 6c 6f 00');
    expect(Buffer.from(server.decode(message, 1000)).toString()).toBe('Hello');
  });

  it('decodes a DEFLATE block with BFINAL set to 1 (§7.2.3.4)', () => {
    const { server } = pair();
    const message = hex('f3 48 cd c9 c9 07 00 00');
    expect(Buffer.from(server.decode(message, 1000)).toString()).toBe('Hello');
  });

  it('decodes two DEFLATE blocks in one message (§7.2.3.5)', () => {
    const { server } = pair();
    const message = hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00');
    expect(Buffer.from(server.decode(message, 1000)).toString()).toBe('Hello');
  });

  it('encodes an empty message as the single octet 00 and decodes it back', () => {
    const { server, client } = pair();
    const encoded = client.encode(new Uint8Array(0), true);
    expect(toHex(encoded)).toBe('00');
    expect(server.decode(encoded, 0).byteLength).toBe(0);
  });
});

// --- Round trips -----------------------------------------------------------------------------

describe('PerMessageDeflate round trips', () => {
  const windows = [9, 10, 11, 12, 13, 14, 15];
  const takeovers = [
    { serverNoContextTakeover: false, clientNoContextTakeover: false },
    { serverNoContextTakeover: true, clientNoContextTakeover: false },
    { serverNoContextTakeover: false, clientNoContextTakeover: true },
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
  ];
  const cases = windows.flatMap((bits) =>
    takeovers.map((takeover) => ({
      ...takeover,
      serverMaxWindowBits: bits,
      clientMaxWindowBits: 24 - bits,
    })),
  );

  it.each(cases)('round-trips messages in both directions with %o', (params) => {
    const { server, client } = pair(params);
    const messages = randomMessages(params.serverMaxWindowBits * 4 + 1, 40);
    for (const message of messages) {
      expectSameBytes(
        client.decode(server.encode(message, true), Number.POSITIVE_INFINITY),
        message,
      );
      expectSameBytes(
        server.decode(client.encode(message, true), Number.POSITIVE_INFINITY),
        message,
      );
      const serverWindow = params.serverNoContextTakeover ? 0 : 2 ** params.serverMaxWindowBits;
      const clientWindow = params.clientNoContextTakeover ? 0 : 2 ** params.clientMaxWindowBits;
      expect(server.historySize.encode).toBeLessThanOrEqual(serverWindow);
      expect(client.historySize.decode).toBeLessThanOrEqual(serverWindow);
      expect(client.historySize.encode).toBeLessThanOrEqual(clientWindow);
      expect(server.historySize.decode).toBeLessThanOrEqual(clientWindow);
    }
  });

  it('uses the previous message as a dictionary only when context takeover is on', () => {
    const message = utf8('the quick brown fox jumps over the lazy dog; '.repeat(4));
    const withTakeover = pair().server;
    const first = withTakeover.encode(message, true).byteLength;
    expect(withTakeover.encode(message, true).byteLength).toBeLessThan(first / 2);
    const without = pair({ serverNoContextTakeover: true }).server;
    expect(without.encode(message, true).byteLength).toBe(first);
    expect(without.encode(message, true).byteLength).toBe(first);
  });

  it('round-trips a message encoded in three fragments, and the message after it', () => {
    const { server, client } = pair();
    const message = randomMessages(7, 1)[0] ?? new Uint8Array(0);
    const text = utf8('fragmented '.repeat(500));
    const parts = [text.subarray(0, 1000), text.subarray(1000, 3000), text.subarray(3000)];
    const encoded = parts.map((part, i) => client.encode(part, i === 2));
    // Non-final fragments keep their 00 00 ff ff; the final one drops it (§7.2.1).
    expect(toHex(encoded[0] ?? new Uint8Array(0)).endsWith('0000ffff')).toBe(true);
    expect(toHex(encoded[1] ?? new Uint8Array(0)).endsWith('0000ffff')).toBe(true);
    expectSameBytes(server.decode(Buffer.concat(encoded), Number.POSITIVE_INFINITY), text);
    expectSameBytes(server.decode(client.encode(message, true), Number.POSITIVE_INFINITY), message);
  });

  it('round-trips a message whose final fragment is empty', () => {
    const { server, client } = pair({ clientNoContextTakeover: true });
    const text = utf8('unknown length '.repeat(100));
    const encoded = [client.encode(text, false), client.encode(new Uint8Array(0), true)];
    expect(toHex(encoded[1] ?? new Uint8Array(0))).toBe('00');
    expectSameBytes(server.decode(Buffer.concat(encoded), 10_000), text);
    expect(client.historySize.encode).toBe(0);
  });

  it('round-trips arbitrary message sequences, fragmentations and parameters', () => {
    fc.assert(
      fc.property(
        fc.record({
          serverNoContextTakeover: fc.boolean(),
          clientNoContextTakeover: fc.boolean(),
          serverMaxWindowBits: fc.integer({ min: 9, max: 15 }),
          clientMaxWindowBits: fc.integer({ min: 9, max: 15 }),
        }),
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.uint8Array({ maxLength: 2000 }),
              fc
                .array(fc.constantFrom('ab', 'cd', 'abcd', 'x', ' '), { maxLength: 800 })
                .map((words) => utf8(words.join(''))),
            ),
            fc.integer({ min: 1, max: 4 }),
            fc.integer(),
          ),
          { maxLength: 12 },
        ),
        (params, messages) => {
          const { server, client } = pair(params);
          for (const [message, count, seed] of messages) {
            const parts = fragments(message, count, prng(seed));
            const encoded = encodeFragments(server, parts);
            expectSameBytes(client.decode(encoded, message.byteLength), message);
            expect(server.historySize.encode).toBeLessThanOrEqual(2 ** params.serverMaxWindowBits);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

// --- History --------------------------------------------------------------------------------

describe('PerMessageDeflate history', () => {
  it('keeps at most 32 KiB of history per direction after a 1 MiB message', () => {
    const { server, client } = pair();
    const message = Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz0123456789');
    client.decode(server.encode(message, true), 1 << 20);
    expect(server.historySize).toEqual({ encode: 32_768, decode: 0 });
    expect(client.historySize).toEqual({ encode: 0, decode: 32_768 });
  });

  it('keeps 2^windowBits bytes of history for a smaller window', () => {
    const { server, client } = pair({ serverMaxWindowBits: 10, clientMaxWindowBits: 12 });
    const message = Buffer.alloc(100_000, 'history ');
    client.decode(server.encode(message, true), 100_000);
    server.decode(client.encode(message, true), 100_000);
    expect(server.historySize).toEqual({ encode: 1024, decode: 4096 });
    expect(client.historySize).toEqual({ encode: 4096, decode: 1024 });
  });

  it('keeps no history for a direction without context takeover', () => {
    const { server, client } = pair({ serverNoContextTakeover: true });
    const message = Buffer.alloc(5000, 'no takeover ');
    client.decode(server.encode(message, true), 5000);
    server.decode(client.encode(message, true), 5000);
    expect(server.historySize).toEqual({ encode: 0, decode: 5000 });
    expect(client.historySize).toEqual({ encode: 5000, decode: 0 });
  });

  it('keeps earlier fragments as history until the message ends, even without context takeover', () => {
    const { server, client } = pair({ clientNoContextTakeover: true });
    const text = utf8('repeat me '.repeat(50));
    const first = client.encode(text, false);
    expect(client.historySize.encode).toBe(text.byteLength);
    const second = client.encode(text, true);
    // The second fragment refers back into the first, so it is much smaller.
    expect(second.byteLength).toBeLessThan(first.byteLength / 2);
    expect(client.historySize.encode).toBe(0);
    expectSameBytes(
      server.decode(Buffer.concat([first, second]), 1000),
      Buffer.concat([text, text]),
    );
  });

  it.each([9, 12, 15])(
    'decodes a back-reference of exactly 2^%i bytes into the previous message',
    (bits) => {
      const { client } = pair({ serverMaxWindowBits: bits });
      const window = 2 ** bits;
      const first = Uint8Array.from({ length: window }, (_, i) => (i * 7919) % 251);
      const stored = zlib.deflateRawSync(first, {
        level: 0,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      client.decode(stored.subarray(0, -4), window);
      expectSameBytes(client.decode(backReference(window), 3), first.subarray(0, 3));
    },
  );

  it('fails with 1007 on a back-reference beyond the agreed window', () => {
    const { client } = pair({ serverMaxWindowBits: 9 });
    const first = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7919) % 251);
    const stored = zlib.deflateRawSync(first, {
      level: 0,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    client.decode(stored.subarray(0, -4), 2000);
    const error = expectDecodeFailure(client, backReference(513));
    expect(error.code).toBe('ERR_INVALID_COMPRESSED_DATA');
    expect(error.closeCode).toBe(1007);
  });
});

// --- Interoperability -------------------------------------------------------------------------

describe('PerMessageDeflate interoperability', () => {
  it.each([9, 12, 15])(
    'exchanges 200 random messages with long-lived zlib streams using %i window bits',
    async (bits) => {
      const { server } = pair({ serverMaxWindowBits: bits, clientMaxWindowBits: bits });
      const peerInflate = zlib.createInflateRaw({ windowBits: 15 });
      const peerDeflate = zlib.createDeflateRaw({ windowBits: bits });
      const next = prng(bits);
      try {
        for (const message of randomMessages(1000 + bits, 200)) {
          // Ours to theirs, in 1 to 3 fragments.
          const parts = fragments(message, 1 + Math.floor(next() * 3), next);
          const encoded = encodeFragments(server, parts);
          const inflated = await flushThrough(peerInflate, Buffer.concat([encoded, TRAILER]));
          expectSameBytes(inflated, message);
          // Theirs to ours.
          const deflated = await flushThrough(peerDeflate, message);
          expectSameBytes(deflated.subarray(-4), TRAILER);
          const decoded = server.decode(deflated.subarray(0, -4), message.byteLength);
          expectSameBytes(decoded, message);
        }
      } finally {
        peerInflate.close();
        peerDeflate.close();
      }
    },
  );

  it('decodes a long-lived zlib stream that resets after each message when the peer has no context takeover', async () => {
    const { server } = pair({ clientNoContextTakeover: true });
    for (const message of randomMessages(42, 50)) {
      const peerDeflate = zlib.createDeflateRaw();
      const deflated = await flushThrough(peerDeflate, message);
      peerDeflate.close();
      expectSameBytes(server.decode(deflated.subarray(0, -4), message.byteLength), message);
      expect(server.historySize.decode).toBe(0);
    }
  });

  const wsCases: { title: string; ours: DeflateOptions; theirs: Record<string, unknown> }[] = [
    { title: 'default settings', ours: {}, theirs: {} },
    {
      title: 'no context takeover',
      ours: { serverNoContextTakeover: true, clientNoContextTakeover: true },
      theirs: {},
    },
    {
      title: 'small windows',
      ours: { serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
      theirs: {},
    },
    {
      title: 'ws asking for small windows',
      ours: {},
      theirs: { serverMaxWindowBits: 9, clientMaxWindowBits: 12 },
    },
  ];

  it.each(wsCases)(
    'negotiates with a ws server and exchanges messages ($title)',
    async ({ ours, theirs }) => {
      const wsServer = new WsPerMessageDeflate({ ...theirs, isServer: true, threshold: 0 });
      try {
        const request = offerDeflate(ours);
        const accepted = wsServer.accept(wsExtension.parse(request)['permessage-deflate']);
        const response = wsExtension.format({ 'permessage-deflate': accepted });
        const client = acceptDeflateResponse(parseExtensions(response), ours);
        expect(client).not.toBeNull();
        for (const message of randomMessages(5, 100)) {
          const decompressed = await wsCall(
            'decompress',
            wsServer,
            client!.encode(message, true),
            true,
          );
          expectSameBytes(decompressed, message);
          const compressed = await wsCall('compress', wsServer, message, true);
          expectSameBytes(client!.decode(compressed, message.byteLength), message);
        }
      } finally {
        wsServer.cleanup();
      }
    },
  );

  it.each(wsCases)(
    'negotiates with a ws client and exchanges messages ($title)',
    async ({ ours, theirs }) => {
      const wsClient = new WsPerMessageDeflate({ ...theirs, isServer: false, threshold: 0 });
      try {
        const request = wsExtension.format({ 'permessage-deflate': [wsClient.offer()] });
        const negotiation = negotiateDeflate(parseExtensions(request), ours);
        expect(negotiation).not.toBeNull();
        const { response, extension: server } = negotiation!;
        wsClient.accept(wsExtension.parse(response)['permessage-deflate']);
        for (const message of randomMessages(6, 100)) {
          const decompressed = await wsCall(
            'decompress',
            wsClient,
            server.encode(message, true),
            true,
          );
          expectSameBytes(decompressed, message);
          const compressed = await wsCall('compress', wsClient, message, true);
          expectSameBytes(server.decode(compressed, message.byteLength), message);
        }
      } finally {
        wsClient.cleanup();
      }
    },
  );
});

// --- Limits and bad input --------------------------------------------------------------------

describe('PerMessageDeflate limits', () => {
  it('refuses a 1 GiB deflate bomb with PayloadTooBigError without allocating its output', () => {
    // Sync-flushed segments from fresh streams never refer to each other, so repeating one
    // segment 1024 times is a valid stream of 1 GiB of zeros, about 1 MiB compressed.
    const segment = zlib.deflateRawSync(Buffer.alloc(1 << 20), {
      level: 9,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    const bomb = Buffer.concat(Array.from({ length: 1024 }, () => segment)).subarray(0, -4);
    expect(bomb.byteLength).toBeLessThan(2 << 20);
    const { server } = pair();
    const before = process.memoryUsage();
    const error = expectDecodeFailure(server, bomb, 10 << 20);
    const after = process.memoryUsage();
    expect(error).toBeInstanceOf(PayloadTooBigError);
    expect(error.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(error.closeCode).toBe(1009);
    // About maxSize is produced before zlib gives up; the 1 GiB never is.
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 << 20);
    expect(after.rss - before.rss).toBeLessThan(256 << 20);
  });

  it('accepts a message of exactly maxSize bytes and refuses one byte more', () => {
    const message = Buffer.alloc(100_000, 'limit ');
    const { server, client } = pair({ serverNoContextTakeover: true });
    const encoded = server.encode(message, true);
    expectSameBytes(client.decode(encoded, 100_000), message);
    const error = expectDecodeFailure(client, encoded, 99_999);
    expect(error).toBeInstanceOf(PayloadTooBigError);
  });

  it('accepts an empty message with maxSize 0 and refuses a one-byte one', () => {
    const { server, client } = pair();
    expect(client.decode(server.encode(new Uint8Array(0), true), 0).byteLength).toBe(0);
    expect(expectDecodeFailure(client, server.encode(utf8('x'), true), 0)).toBeInstanceOf(
      PayloadTooBigError,
    );
  });

  it('fails with ERR_INVALID_COMPRESSED_DATA and close code 1007 on corrupt data', () => {
    const { server } = pair();
    const error = expectDecodeFailure(server, hex('ff ff ff'));
    expect(error).not.toBeInstanceOf(PayloadTooBigError);
    expect(error.code).toBe('ERR_INVALID_COMPRESSED_DATA');
    expect(error.closeCode).toBe(1007);
  });

  it('fails with 1007 on a reference to history that was never sent', () => {
    const { server } = pair();
    const error = expectDecodeFailure(server, hex('f2 00 11 00 00'));
    expect(error.closeCode).toBe(1007);
  });

  it('returns small results in buffers of their own rather than views of a zlib chunk', () => {
    const { server, client } = pair();
    const encoded = server.encode(utf8('small message '.repeat(100)), true);
    expect(encoded.buffer.byteLength).toBe(encoded.byteLength);
    const decoded = client.decode(encoded, 10_000);
    expect(decoded.buffer.byteLength).toBe(decoded.byteLength);
    const large = client.decode(server.encode(new Uint8Array(100_000), true), 100_000);
    expect(large.buffer.byteLength).toBeLessThanOrEqual(2 * large.byteLength);
  });

  it('compresses messages from 1024 bytes by default', () => {
    const { server } = pair();
    expect(server.shouldEncode(1023)).toBe(false);
    expect(server.shouldEncode(1024)).toBe(true);
  });

  it('compresses messages from the configured threshold', () => {
    const { server } = pair({}, { threshold: 0 });
    expect(server.shouldEncode(0)).toBe(true);
    const never = pair({}, { threshold: Number.POSITIVE_INFINITY }).server;
    expect(never.shouldEncode(2 ** 40)).toBe(false);
  });

  it('refuses 8 window bits for its own compressor but accepts them for the peer', () => {
    expect(
      () => new PerMessageDeflate({ ...DEFAULT_PARAMS, serverMaxWindowBits: 8 }, true),
    ).toThrow(InvalidArgumentError);
    expect(
      () => new PerMessageDeflate({ ...DEFAULT_PARAMS, clientMaxWindowBits: 8 }, false),
    ).toThrow(InvalidArgumentError);
    const server = new PerMessageDeflate({ ...DEFAULT_PARAMS, clientMaxWindowBits: 8 }, true);
    expect(server.params.clientMaxWindowBits).toBe(8);
  });

  it.each([
    { threshold: -1 },
    { threshold: Number.NaN },
    { level: 10 },
    { level: -2 },
    { level: 1.5 },
    { memLevel: 0 },
    { memLevel: 10 },
  ])('refuses the invalid option %o', (options) => {
    expect(() => new PerMessageDeflate(DEFAULT_PARAMS, true, options)).toThrow(
      InvalidArgumentError,
    );
  });

  it('exposes the agreed parameters', () => {
    const params = { ...DEFAULT_PARAMS, serverNoContextTakeover: true, clientMaxWindowBits: 10 };
    const extension = new PerMessageDeflate(params, false);
    expect(extension.name).toBe('permessage-deflate');
    expect(extension.params).toEqual(params);
    expect(Object.isFrozen(extension.params)).toBe(true);
  });
});

// --- Negotiation: client ---------------------------------------------------------------------

describe('offerDeflate', () => {
  it('offers permessage-deflate with client_max_window_bits by default', () => {
    expect(offerDeflate()).toBe('permessage-deflate; client_max_window_bits');
  });

  it('offers every requested parameter', () => {
    expect(
      offerDeflate({
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 12,
      }),
    ).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    );
  });

  it.each([
    { serverMaxWindowBits: 8 },
    { clientMaxWindowBits: 8 },
    { serverMaxWindowBits: 16 },
    { clientMaxWindowBits: 9.5 },
    { level: 11 },
  ])('refuses the invalid option %o', (options) => {
    expect(() => offerDeflate(options)).toThrow(InvalidArgumentError);
  });
});

describe('acceptDeflateResponse', () => {
  it('returns null when the server accepted no extension', () => {
    expect(acceptDeflateResponse([])).toBeNull();
  });

  it('accepts a bare permessage-deflate with 15 bits and context takeover both ways', () => {
    const extension = acceptDeflateResponse(parseExtensions('permessage-deflate'));
    expect(extension?.params).toEqual(DEFAULT_PARAMS);
  });

  it('accepts every parameter the server may answer', () => {
    const extension = acceptDeflateResponse(
      parseExtensions(
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=10',
      ),
    );
    expect(extension?.params).toEqual({
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 8,
      clientMaxWindowBits: 10,
    });
  });

  it('accepts server_no_context_takeover that was not requested (§7.1.1.1)', () => {
    const extension = acceptDeflateResponse(
      parseExtensions('permessage-deflate; server_no_context_takeover'),
    );
    expect(extension?.params.serverNoContextTakeover).toBe(true);
  });

  it('accepts a server_max_window_bits smaller than requested', () => {
    const extension = acceptDeflateResponse(
      parseExtensions('permessage-deflate; server_max_window_bits=9'),
      { serverMaxWindowBits: 11 },
    );
    expect(extension?.params.serverMaxWindowBits).toBe(9);
  });

  it('keeps the client_max_window_bits it offered when the server does not answer it', () => {
    const extension = acceptDeflateResponse(parseExtensions('permessage-deflate'), {
      clientMaxWindowBits: 11,
    });
    expect(extension?.params.clientMaxWindowBits).toBe(11);
  });

  it('keeps its client_no_context_takeover promise when the server does not repeat it (§7.1.1.2)', () => {
    const extension = acceptDeflateResponse(parseExtensions('permessage-deflate'), {
      clientNoContextTakeover: true,
    });
    expect(extension?.params.clientNoContextTakeover).toBe(true);
  });

  it('applies the tuning options to the extension', () => {
    const extension = acceptDeflateResponse(parseExtensions('permessage-deflate'), {
      threshold: 10,
    });
    expect(extension?.shouldEncode(10)).toBe(true);
    expect(extension?.shouldEncode(9)).toBe(false);
  });

  it.each([
    ['an extension that was not offered', 'x-webkit-deflate-frame', {}],
    ['permessage-deflate twice', 'permessage-deflate, permessage-deflate', {}],
    ['an unknown parameter', 'permessage-deflate; foo', {}],
    [
      'a duplicated parameter',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      {},
    ],
    [
      'server_no_context_takeover with a value',
      'permessage-deflate; server_no_context_takeover=1',
      {},
    ],
    [
      'client_no_context_takeover with a value',
      'permessage-deflate; client_no_context_takeover=x',
      {},
    ],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits', {}],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16', {}],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7', {}],
    [
      'server_max_window_bits with a leading zero',
      'permessage-deflate; server_max_window_bits=09',
      {},
    ],
    ['a non-numeric server_max_window_bits', 'permessage-deflate; server_max_window_bits=ten', {}],
    ['client_max_window_bits without a value', 'permessage-deflate; client_max_window_bits', {}],
    [
      'client_max_window_bits=8, which zlib cannot honour',
      'permessage-deflate; client_max_window_bits=8',
      {},
    ],
    [
      'client_max_window_bits larger than offered',
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: 11 },
    ],
    [
      'server_max_window_bits larger than requested',
      'permessage-deflate; server_max_window_bits=12',
      { serverMaxWindowBits: 11 },
    ],
    [
      'no server_max_window_bits when 11 was requested',
      'permessage-deflate',
      { serverMaxWindowBits: 11 },
    ],
    [
      'no server_no_context_takeover when it was requested',
      'permessage-deflate',
      { serverNoContextTakeover: true },
    ],
  ] satisfies [string, string, DeflateOptions][])(
    'fails the connection on %s',
    (_title, response, options) => {
      expectHandshakeFailure(response, options);
    },
  );

  it('names the problem in the error message', () => {
    const error = expectHandshakeFailure('permessage-deflate; foo=bar');
    expect(error.message).toBe('unacceptable permessage-deflate response: unknown parameter foo');
  });
});

// --- Negotiation: server ---------------------------------------------------------------------

describe('negotiateDeflate', () => {
  function negotiated(request: string, options: DeflateOptions = {}) {
    const result = negotiateDeflate(parseExtensions(request), options);
    return result && { response: result.response, params: result.extension.params };
  }

  it('returns null without a permessage-deflate offer', () => {
    expect(negotiateDeflate([])).toBeNull();
    expect(negotiateDeflate(parseExtensions('x-webkit-deflate-frame'))).toBeNull();
  });

  it('accepts a bare offer with a bare response', () => {
    expect(negotiated('permessage-deflate')).toEqual({
      response: 'permessage-deflate',
      params: DEFAULT_PARAMS,
    });
  });

  it('accepts the default browser offer without limiting the client window', () => {
    expect(negotiated('permessage-deflate; client_max_window_bits')?.response).toBe(
      'permessage-deflate',
    );
  });

  it('limits the client window when the client supports client_max_window_bits (§7.1.2.2)', () => {
    expect(
      negotiated('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 }),
    ).toEqual({
      response: 'permessage-deflate; client_max_window_bits=10',
      params: { ...DEFAULT_PARAMS, clientMaxWindowBits: 10 },
    });
  });

  it('does not answer client_max_window_bits when the offer lacks it (§7.1.2.2)', () => {
    expect(negotiated('permessage-deflate', { clientMaxWindowBits: 10 })).toEqual({
      response: 'permessage-deflate',
      params: DEFAULT_PARAMS,
    });
  });

  it('repeats the client window the client promised, or a smaller one', () => {
    expect(negotiated('permessage-deflate; client_max_window_bits=12')?.response).toBe(
      'permessage-deflate; client_max_window_bits=12',
    );
    expect(
      negotiated('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })
        ?.response,
    ).toBe('permessage-deflate; client_max_window_bits=10');
    expect(
      negotiated('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 14 })
        ?.response,
    ).toBe('permessage-deflate; client_max_window_bits=12');
  });

  it('accepts client_max_window_bits=8, since its decompressor handles any window', () => {
    expect(negotiated('permessage-deflate; client_max_window_bits=8')).toEqual({
      response: 'permessage-deflate; client_max_window_bits=8',
      params: { ...DEFAULT_PARAMS, clientMaxWindowBits: 8 },
    });
  });

  it('honours server_max_window_bits and answers it (§7.1.2.1)', () => {
    expect(negotiated('permessage-deflate; server_max_window_bits=10')).toEqual({
      response: 'permessage-deflate; server_max_window_bits=10',
      params: { ...DEFAULT_PARAMS, serverMaxWindowBits: 10 },
    });
    expect(
      negotiated('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 9 })
        ?.response,
    ).toBe('permessage-deflate; server_max_window_bits=9');
  });

  it('announces its own server window limit when the client did not ask for one', () => {
    expect(negotiated('permessage-deflate', { serverMaxWindowBits: 11 })?.response).toBe(
      'permessage-deflate; server_max_window_bits=11',
    );
  });

  it('honours and repeats server_no_context_takeover (§7.1.1.1)', () => {
    expect(negotiated('permessage-deflate; server_no_context_takeover')).toEqual({
      response: 'permessage-deflate; server_no_context_takeover',
      params: { ...DEFAULT_PARAMS, serverNoContextTakeover: true },
    });
  });

  it('adds the no_context_takeover parameters it requires', () => {
    expect(
      negotiated('permessage-deflate', {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
      })?.response,
    ).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  });

  it('repeats client_no_context_takeover so that it can drop the client history', () => {
    const result = negotiateDeflate(
      parseExtensions('permessage-deflate; client_no_context_takeover'),
    );
    expect(result?.response).toBe('permessage-deflate; client_no_context_takeover');
    expect(result?.extension.params.clientNoContextTakeover).toBe(true);
  });

  it('answers every parameter in a fixed order', () => {
    expect(
      negotiated(
        'permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover',
      )?.response,
    ).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=10',
    );
  });

  it('applies the tuning options to the extension', () => {
    const result = negotiateDeflate(parseExtensions('permessage-deflate'), { threshold: 100 });
    expect(result?.extension.shouldEncode(99)).toBe(false);
    expect(result?.extension.shouldEncode(100)).toBe(true);
  });

  it.each([
    ['server_max_window_bits=8, which zlib cannot honour', 'server_max_window_bits=8'],
    ['an unknown parameter', 'foo'],
    ['an unknown parameter with a value', 'foo=bar'],
    ['a duplicated parameter', 'client_no_context_takeover; client_no_context_takeover'],
    ['a duplicated window parameter', 'server_max_window_bits=10; server_max_window_bits=11'],
    ['server_max_window_bits without a value', 'server_max_window_bits'],
    ['server_max_window_bits=16', 'server_max_window_bits=16'],
    ['client_max_window_bits=7', 'client_max_window_bits=7'],
    ['a leading zero', 'client_max_window_bits=010'],
    ['a non-numeric value', 'server_max_window_bits=abc'],
    ['a value on server_no_context_takeover', 'server_no_context_takeover=true'],
    ['a value on client_no_context_takeover', 'client_no_context_takeover=1'],
  ])('declines an offer with %s and takes the next one', (_title, params) => {
    const result = negotiateDeflate(
      parseExtensions(`permessage-deflate; ${params}, permessage-deflate; client_max_window_bits`),
      { clientMaxWindowBits: 9 },
    );
    expect(result?.response).toBe('permessage-deflate; client_max_window_bits=9');
  });

  it('returns null when every offer is declined', () => {
    expect(
      negotiateDeflate(
        parseExtensions('permessage-deflate; server_max_window_bits=8, permessage-deflate; bogus'),
      ),
    ).toBeNull();
  });

  it('takes the first acceptable offer in the client order of preference (§5)', () => {
    expect(
      negotiated('x-other, permessage-deflate; server_max_window_bits=10, permessage-deflate')
        ?.response,
    ).toBe('permessage-deflate; server_max_window_bits=10');
  });

  it('never throws on peer input', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.constantFrom('permessage-deflate', 'x-other'),
            params: fc.array(
              fc.tuple(
                fc.constantFrom(
                  'server_no_context_takeover',
                  'client_no_context_takeover',
                  'server_max_window_bits',
                  'client_max_window_bits',
                  'other',
                ),
                fc.oneof(
                  fc.constant(true as const),
                  fc.constantFrom('8', '9', '10', '15', '16', '09'),
                  fc.string({ maxLength: 3 }),
                ),
              ),
              { maxLength: 5 },
            ),
          }),
          { maxLength: 4 },
        ),
        (offers) => {
          const result = negotiateDeflate(offers);
          // Whatever we answer, our own client accepts it with the same parameters, unless the
          // offer came from a client that can compress with 8 window bits, which ours cannot.
          if (result !== null && result.extension.params.clientMaxWindowBits >= 9) {
            const accepted = acceptDeflateResponse(parseExtensions(result.response));
            expect(accepted?.params).toEqual(result.extension.params);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('refuses invalid options', () => {
    expect(() => negotiateDeflate([], { serverMaxWindowBits: 8 })).toThrow(InvalidArgumentError);
  });
});

// --- End to end ------------------------------------------------------------------------------

describe('permessage-deflate negotiation end to end', () => {
  it.each<[DeflateOptions, DeflateOptions]>([
    [{}, {}],
    [{ serverMaxWindowBits: 10, clientNoContextTakeover: true }, {}],
    [{}, { clientMaxWindowBits: 9, serverNoContextTakeover: true }],
    [
      { serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
      { serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    ],
  ])(
    'agrees on the same parameters with client %o and server %o',
    (clientOptions, serverOptions) => {
      const request = offerDeflate(clientOptions);
      const negotiation = negotiateDeflate(parseExtensions(request), serverOptions);
      expect(negotiation).not.toBeNull();
      const client = acceptDeflateResponse(parseExtensions(negotiation!.response), clientOptions);
      const server = negotiation!.extension;
      expect(client?.params).toEqual(server.params);
      for (const message of randomMessages(99, 50)) {
        expectSameBytes(server.decode(client!.encode(message, true), message.byteLength), message);
        expectSameBytes(client!.decode(server.encode(message, true), message.byteLength), message);
      }
    },
  );
});
