import { Buffer } from 'node:buffer';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { concat, frame, prng, toHex } from '../test/helpers.js';
import {
  acceptDeflateResponse,
  type DeflateOptions,
  negotiateDeflate,
  offerDeflate,
  PayloadTooBigError,
  type PerMessageExtension,
  Protocol,
  type ProtocolEvent,
  parseExtensions,
} from './index.js';

// Autobahn 12 (permessage-deflate, context takeover) and 13 (each parameter set): messages go
// through a real negotiation and a client and a server Protocol, with exact events and codes.

function pair(client: DeflateOptions = {}, server: DeflateOptions = {}, maxMessageSize?: number) {
  const negotiated = negotiateDeflate(parseExtensions(offerDeflate(client)), server);
  if (negotiated === null) throw new Error('deflate was declined');
  const clientExtension = acceptDeflateResponse(parseExtensions(negotiated.response), client);
  const limit = maxMessageSize === undefined ? {} : { maxMessageSize };
  return {
    response: negotiated.response,
    client: new Protocol({ side: 'client', extension: clientExtension, ...limit }),
    server: new Protocol({ side: 'server', extension: negotiated.extension, ...limit }),
  };
}

function transfer(
  from: Protocol,
  to: Protocol,
): { events: readonly ProtocolEvent[]; wire: Buffer } {
  const wire = Buffer.concat(from.dataToSend());
  // Deliver in 1,000-byte reads, as a socket might.
  for (let pos = 0; pos < wire.length; pos += 1000)
    to.receiveData(new Uint8Array(wire.subarray(pos, pos + 1000)));
  return { events: to.eventsReceived(), wire };
}

function corpus(count: number): Array<string | Uint8Array> {
  const out: Array<string | Uint8Array> = [];
  const random = prng(1);
  for (let i = 0; i < count; i++) {
    const size = [16, 64, 256, 1024, 4096, 65_536, 131_072][i % 7]!;
    if (i % 3 === 0) out.push(Uint8Array.from({ length: size }, () => Math.floor(random() * 256)));
    else out.push(`{"id":${i},"text":"${'gale wind '.repeat(size / 10)}"}`.slice(0, size));
  }
  return out;
}

const parameterSets: Array<[string, DeflateOptions, DeflateOptions]> = [
  ['defaults', {}, {}],
  ['server_no_context_takeover', { serverNoContextTakeover: true }, {}],
  ['client_no_context_takeover', { clientNoContextTakeover: true }, {}],
  ['server_max_window_bits=9', { serverMaxWindowBits: 9 }, {}],
  ['client_max_window_bits=9 (set by the server)', {}, { clientMaxWindowBits: 9 }],
  [
    'server_max_window_bits=12, client_max_window_bits=10',
    { serverMaxWindowBits: 12 },
    { clientMaxWindowBits: 10 },
  ],
  [
    'everything',
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10 },
    { clientMaxWindowBits: 11 },
  ],
];

describe('12–13. permessage-deflate through the protocol', () => {
  for (const [name, clientOptions, serverOptions] of parameterSets) {
    it(`round-trips 70 messages both ways with ${name}`, () => {
      const { client, server } = pair(
        { ...clientOptions, threshold: 0 },
        { ...serverOptions, threshold: 0 },
      );
      const messages = corpus(70);
      for (const m of messages) typeof m === 'string' ? client.sendText(m) : client.sendBinary(m);
      const up = transfer(client, server);
      for (const m of messages) typeof m === 'string' ? server.sendText(m) : server.sendBinary(m);
      const down = transfer(server, client);
      const expected = messages.map((m) =>
        typeof m === 'string' ? { type: 'text', data: m } : { type: 'binary', data: toHex(m) },
      );
      const normalize = (events: readonly ProtocolEvent[]) =>
        events.map((e) => (e.type === 'binary' ? { type: 'binary', data: toHex(e.data) } : e));
      expect(normalize(up.events)).toEqual(expected);
      expect(normalize(down.events)).toEqual(expected);
      expect(server.error).toBeNull();
      expect(client.error).toBeNull();
      // Compression happened: the text-heavy corpus shrinks on the wire.
      const plain = messages.reduce((n, m) => n + Buffer.byteLength(m as string), 0);
      expect(up.wire.length).toBeLessThan(plain * 0.7);
      expect(down.wire.length).toBeLessThan(plain * 0.7);
    });
  }

  it('negotiates the response header the client then accepts', () => {
    expect(pair().response).toBe('permessage-deflate');
    expect(pair({ serverNoContextTakeover: true }, { clientMaxWindowBits: 10 }).response).toBe(
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
    );
  });

  it('sets RSV1 only on the first frame of a compressed fragmented message', () => {
    const { client, server } = pair({ threshold: 0 });
    client.sendText(Buffer.from('first half, '), false);
    client.sendContinuation(Buffer.from('second half'), true);
    const chunks = client.dataToSend();
    expect(chunks[0]![0]).toBe(0x41); // RSV1 | TEXT, no FIN
    expect(chunks[1]![0]).toBe(0x80); // FIN | CONTINUATION, RSV1 clear
    for (const chunk of chunks) server.receiveData(chunk);
    expect(server.eventsReceived()).toEqual([{ type: 'text', data: 'first half, second half' }]);
  });

  it('sends messages under the threshold uncompressed, with RSV1 clear', () => {
    const { client } = pair({ threshold: 100 });
    client.sendText('short');
    expect(client.dataToSend()[0]![0]).toBe(0x81);
  });

  it('bounds each compression call when a large message is sent in fragments', () => {
    // The I/O layer sends a large message as fragments, one encode call each, yielding between
    // them; the receiver still gets one message.
    const { client, server } = pair({ threshold: 0 });
    const big = Buffer.from('abcdefghij'.repeat(400_000)); // 4 MB
    const slice = 128 * 1024;
    for (let pos = 0; pos < big.length; pos += slice) {
      const fin = pos + slice >= big.length;
      const fragment = big.subarray(pos, pos + slice);
      if (pos === 0) client.sendBinary(fragment, fin);
      else client.sendContinuation(fragment, fin);
    }
    const { events } = transfer(client, server);
    expect(events).toHaveLength(1);
    expect(Buffer.compare(Buffer.from((events[0] as { data: Uint8Array }).data), big)).toBe(0);
  });

  it('fails with 1007 on a compressed message that does not inflate', () => {
    const { server } = pair();
    server.receiveData(frame(0x2, new Uint8Array([0xff, 0xff, 0xff, 0xff]), { rsv1: true }));
    expect(server.error?.code).toBe('ERR_INVALID_COMPRESSED_DATA');
    expect(server.error?.closeCode).toBe(1007);
    expect(toHex(server.dataToSend()[0]!).slice(0, 8)).toBe('881903ef');
  });

  it('fails with 1007 on compressed text that inflates to invalid UTF-8', () => {
    const { server } = pair();
    const payload = deflateRawSync(Buffer.from([0x68, 0xc0, 0xaf]), { finishFlush: 2 }).subarray(
      0,
      -4,
    );
    server.receiveData(frame(0x1, payload, { rsv1: true }));
    expect(server.error?.code).toBe('ERR_INVALID_UTF8');
  });

  it('fails with 1009 on a deflate bomb without inflating it all', () => {
    const { server } = pair();
    // 64 MiB of zeros compresses to about 64 KiB; the limit is 10 MiB.
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: 2 }).subarray(0, -4);
    expect(bomb.length).toBeLessThan(100_000);
    const before = process.memoryUsage().arrayBuffers;
    server.receiveData(frame(0x2, bomb, { rsv1: true }));
    expect(server.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(server.error?.closeCode).toBe(1009);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  it('fails with 1002 on RSV1 when deflate was not negotiated', () => {
    const server = new Protocol({ side: 'server' });
    server.receiveData(frame(0x1, concat(new Uint8Array([0xf2, 0x48])), { rsv1: true }));
    expect(server.error?.code).toBe('ERR_UNEXPECTED_RSV');
  });
});

// --- maxMessageSize judges a compressed message by its inflated size ---------------------------

// The bound on a compressed message's bytes for a limit of n, written out independently of the
// protocol: zlib's deflateBound() for unknown parameters (the larger of its fixed-block and
// stored-block bounds) plus 5 bytes for an empty stored block.
function compressedBound(n: number): number {
  const fixedBlocks = n + Math.floor(n / 8) + Math.floor(n / 256) + Math.floor(n / 512) + 4;
  const storedBlocks = n + Math.floor(n / 32) + Math.floor(n / 128) + Math.floor(n / 2048) + 7;
  return Math.max(fixedBlocks, storedBlocks) + 5;
}

// zlib's tight bound, which holds only for its default window and memory level.
function defaultParametersBound(n: number): number {
  return n + (n >> 12) + (n >> 14) + (n >> 25) + 13;
}

const LIMIT = 300;
const BOUND = compressedBound(LIMIT); // 347

/** Incompressible bytes from a seeded generator. */
function randomBytes(length: number, seed: number): Uint8Array {
  const random = prng(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

/** The payload of one message, deflated by node:zlib and ended as RFC 7692 §7.2.1 says. */
function deflateMessage(data: Uint8Array, options: Parameters<typeof deflateRawSync>[1] = {}) {
  const out = deflateRawSync(data, { ...options, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  expect(toHex(out.subarray(-4))).toBe('0000ffff');
  return new Uint8Array(out.subarray(0, -4));
}

/** The payload lengths of the data frames in `wire`, masked or not. */
function dataPayloadLengths(wire: Uint8Array): number[] {
  const lengths: number[] = [];
  const view = Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength);
  let pos = 0;
  while (pos < view.length) {
    let length = view[pos + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      length = view.readUInt16BE(pos + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(view.readBigUInt64BE(pos + 2));
      header = 10;
    }
    if (view[pos + 1]! & 0x80) header += 4;
    if ((view[pos]! & 0x0f) < 0x8) lengths.push(length);
    pos += header + length;
  }
  return lengths;
}

/** A server with a negotiated deflate extension whose decode calls are counted. */
function countingServer(maxMessageSize: number) {
  const negotiated = negotiateDeflate(parseExtensions(offerDeflate()), {});
  if (negotiated === null) throw new Error('deflate was declined');
  const real = negotiated.extension;
  const counts = { decode: 0 };
  const counting: PerMessageExtension = {
    name: real.name,
    decode(data, maxSize) {
      counts.decode++;
      return real.decode(data, maxSize);
    },
    shouldEncode: (size) => real.shouldEncode(size),
    encode: (data, fin) => real.encode(data, fin),
  };
  return { server: new Protocol({ side: 'server', maxMessageSize, extension: counting }), counts };
}

/** The code of the Close frame that `protocol` sends (a server's: unmasked, under 126 bytes). */
function closeCodeSent(protocol: Protocol): number {
  const out = Buffer.concat(protocol.dataToSend());
  expect(out[0]).toBe(0x88);
  return out.readUInt16BE(2);
}

/** Events with binary data as hex, to compare with {@link binaryHex}. */
function hexEvents(events: readonly ProtocolEvent[]): unknown[] {
  return events.map((e) => (e.type === 'binary' ? { type: 'binary', data: toHex(e.data) } : e));
}

function binaryHex(data: Uint8Array): unknown {
  return { type: 'binary', data: toHex(data) };
}

function receiveInPieces(protocol: Protocol, wire: Uint8Array, size: number): void {
  for (let pos = 0; pos < wire.length; pos += size) {
    protocol.receiveData(new Uint8Array(wire.subarray(pos, pos + size)));
  }
}

describe('maxMessageSize and compressed messages', () => {
  it('accepts a compressed message a few bytes over the limit that inflates to less (the audit)', () => {
    const message = randomBytes(299, 1);
    // Stored blocks: 5 bytes of block header and 1 of the flush's empty block around 299.
    const payload = deflateMessage(message, { level: 0 });
    expect(payload.length).toBe(305);
    const { server } = pair({}, {}, LIMIT);
    receiveInPieces(server, frame(0x2, payload, { rsv1: true }), 7);
    expect(server.error).toBeNull();
    expect(hexEvents(server.eventsReceived())).toEqual([binaryHex(message)]);

    const text = Buffer.from('é'.repeat(149)); // 298 bytes of UTF-8
    const { server: textServer } = pair({}, {}, LIMIT);
    textServer.receiveData(frame(0x1, deflateMessage(text, { level: 0 }), { rsv1: true }));
    expect(textServer.error).toBeNull();
    expect(textServer.eventsReceived()).toEqual([{ type: 'text', data: 'é'.repeat(149) }]);
  });

  it('accepts random data of exactly the limit from the peer codec, with every parameter set', () => {
    const variants: Array<[string, DeflateOptions, DeflateOptions]> = [
      ...parameterSets,
      ['memLevel 1', { memLevel: 1 }, { memLevel: 1 }],
      ['memLevel 3, window bits 9', { memLevel: 3, clientMaxWindowBits: 9 }, { memLevel: 3 }],
      ['memLevel 9', { memLevel: 9 }, { memLevel: 9 }],
      ['level 0', { level: 0 }, { level: 0 }],
      ['level 9', { level: 9 }, { level: 9 }],
    ];
    for (const [name, clientOptions, serverOptions] of variants) {
      const { client, server } = pair(
        { ...clientOptions, threshold: 0 },
        { ...serverOptions, threshold: 0 },
        LIMIT,
      );
      const messages = [randomBytes(LIMIT, 2), randomBytes(LIMIT, 3), randomBytes(LIMIT, 4)];
      client.sendBinary(messages[0]!);
      // The next message follows the first in the peer's context, where there is one.
      client.sendBinary(messages[1]!);
      // One message in three fragments, each compressed and flushed on its own.
      client.sendBinary(messages[2]!.subarray(0, 100), false);
      client.sendContinuation(messages[2]!.subarray(100, 200), false);
      client.sendContinuation(messages[2]!.subarray(200), true);
      const { events, wire } = transfer(client, server);
      const lengths = dataPayloadLengths(wire);
      const compressed = [lengths[0]!, lengths[1]!, lengths[2]! + lengths[3]! + lengths[4]!];
      // Each one is over the limit compressed (the old check refused them) and within the bound.
      for (const size of compressed) {
        expect(size, name).toBeGreaterThan(LIMIT);
        expect(size, name).toBeLessThanOrEqual(BOUND);
      }
      expect(server.error, name).toBeNull();
      expect(hexEvents(events), name).toEqual(messages.map(binaryHex));

      // And the other way.
      for (const m of messages) server.sendBinary(m);
      const down = transfer(server, client);
      expect(client.error, name).toBeNull();
      expect(hexEvents(down.events), name).toEqual(messages.map(binaryHex));
    }
  });

  it('accepts any node:zlib compression of incompressible data of exactly the limit', () => {
    const { Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_FIXED } = zlibConstants;
    for (const limit of [LIMIT, 1000, 4096]) {
      const random = randomBytes(limit, 5);
      // Bytes 144–255 have 9-bit codes in the fixed Huffman code: the worst case for Z_FIXED.
      const high = Uint8Array.from(randomBytes(limit, 6), (b) => 144 + (b % 112));
      let largest = 0;
      for (const data of [random, high]) {
        for (const level of [0, 1, 6, 9]) {
          for (const memLevel of [1, 3, 8, 9]) {
            for (const windowBits of [9, 12, 15]) {
              for (const strategy of [Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_FIXED]) {
                const payload = deflateMessage(data, { level, memLevel, windowBits, strategy });
                const label = `${limit} bytes, level ${level}, memLevel ${memLevel}, windowBits ${windowBits}, strategy ${strategy}`;
                if (data === random) expect(payload.length, label).toBeGreaterThan(limit);
                largest = Math.max(largest, payload.length);
                const { server } = pair({}, {}, limit);
                server.receiveData(frame(0x2, payload, { rsv1: true }));
                expect(server.error, label).toBeNull();
                expect(hexEvents(server.eventsReceived()), label).toEqual([binaryHex(data)]);
              }
            }
          }
        }
      }
      // zlib's bound for its default parameters would have refused some of them.
      expect(largest).toBeGreaterThan(defaultParametersBound(limit));
      expect(largest).toBeLessThanOrEqual(compressedBound(limit));
    }
  });

  it('refuses with 1009, once inflated, a message that inflates past the limit', () => {
    // 250 random bytes and 16 KiB of zeros: over the limit compressed, but within the bound, so
    // only inflating can refuse it.
    const message = concat(randomBytes(250, 7), new Uint8Array(16 * 1024));
    const payload = deflateMessage(message);
    expect(payload.length).toBeGreaterThan(LIMIT);
    expect(payload.length).toBeLessThanOrEqual(BOUND);
    const wire = frame(0x2, payload, { rsv1: true });
    const { server } = pair({}, {}, LIMIT);
    server.receiveData(wire.subarray(0, -1));
    expect(server.error).toBeNull();
    server.receiveData(wire.subarray(-1));
    expect(server.error).toBeInstanceOf(PayloadTooBigError);
    expect(server.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(server.error?.message).toBe(`decompressed message exceeds ${LIMIT} bytes`);
    expect(closeCodeSent(server)).toBe(1009);

    // As before, one that is under the limit even compressed: 64 KiB of zeros.
    const { server: small } = pair({}, {}, LIMIT);
    const zeros = deflateMessage(new Uint8Array(64 * 1024));
    expect(zeros.length).toBeLessThan(LIMIT);
    small.receiveData(frame(0x2, zeros, { rsv1: true }));
    expect(small.error?.message).toBe(`decompressed message exceeds ${LIMIT} bytes`);
    expect(small.error?.closeCode).toBe(1009);
  });

  it('refuses with 1009, once inflated, a fragmented message that inflates past the limit', () => {
    const { client, server } = pair({ threshold: 0 }, {}, LIMIT);
    client.sendBinary(randomBytes(250, 8), false);
    client.sendContinuation(new Uint8Array(64 * 1024), true); // compresses to a few dozen bytes
    const wire = concat(...client.dataToSend());
    const lengths = dataPayloadLengths(wire);
    expect(lengths).toHaveLength(2);
    expect(lengths[0]! + lengths[1]!).toBeGreaterThan(LIMIT);
    expect(lengths[0]! + lengths[1]!).toBeLessThanOrEqual(BOUND);
    server.receiveData(wire.subarray(0, -1));
    expect(server.error).toBeNull();
    server.receiveData(wire.subarray(-1));
    expect(server.error).toBeInstanceOf(PayloadTooBigError);
    expect(server.error?.message).toBe(`decompressed message exceeds ${LIMIT} bytes`);
    expect(closeCodeSent(server)).toBe(1009);
  });

  it('refuses from its header, without inflating, a compressed message over the bound', () => {
    expect(BOUND).toBe(347);
    // A frame header alone (126-length form, masked: 8 bytes) decides.
    const header = (opcode: number, length: number, spec: { fin?: boolean; rsv1?: boolean }) =>
      frame(opcode, new Uint8Array(length), spec).subarray(0, 8);

    const atBound = countingServer(LIMIT);
    atBound.server.receiveData(header(0x2, BOUND, { rsv1: true }));
    expect(atBound.server.error).toBeNull();

    const overBound = countingServer(LIMIT);
    overBound.server.receiveData(header(0x2, BOUND + 1, { rsv1: true }));
    expect(overBound.server.error).toBeInstanceOf(PayloadTooBigError);
    expect(overBound.server.error?.message).toBe(`compressed message over ${BOUND} bytes`);
    expect(closeCodeSent(overBound.server)).toBe(1009);
    expect(overBound.counts.decode).toBe(0);

    // Fragments count together: 200 bytes, then a continuation that would pass the bound.
    const first = frame(0x2, new Uint8Array(200), { rsv1: true, fin: false });
    const fragmentsAtBound = countingServer(LIMIT);
    fragmentsAtBound.server.receiveData(concat(first, header(0x0, BOUND - 200, { fin: false })));
    expect(fragmentsAtBound.server.error).toBeNull();
    const fragmentsOverBound = countingServer(LIMIT);
    fragmentsOverBound.server.receiveData(concat(first, header(0x0, BOUND - 199, {})));
    expect(fragmentsOverBound.server.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(fragmentsOverBound.server.error?.closeCode).toBe(1009);
    expect(fragmentsOverBound.counts.decode).toBe(0);

    // 1 MiB of zeros deflates to about 1 KiB, over the bound: its header is enough.
    const zeros = deflateMessage(new Uint8Array(1 << 20), { level: 9 });
    expect(zeros.length).toBeGreaterThan(BOUND);
    const bomb = countingServer(LIMIT);
    bomb.server.receiveData(frame(0x2, zeros, { rsv1: true }));
    expect(bomb.server.error?.message).toBe(`compressed message over ${BOUND} bytes`);
    expect(closeCodeSent(bomb.server)).toBe(1009);
    expect(bomb.counts.decode).toBe(0);

    // An uncompressed message is still judged by its own bytes, extension or not.
    const plain = countingServer(LIMIT);
    plain.server.receiveData(header(0x2, LIMIT + 1, {}));
    expect(plain.server.error?.message).toBe(`message over ${LIMIT} bytes`);
  });
});
