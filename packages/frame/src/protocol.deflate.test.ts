import { Buffer } from 'node:buffer';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { concat, frame, prng, toHex } from '../test/helpers.js';
import {
  acceptDeflateResponse,
  type DeflateOptions,
  negotiateDeflate,
  offerDeflate,
  Protocol,
  type ProtocolEvent,
  parseExtensions,
} from './index.js';

// Autobahn 12 (permessage-deflate, context takeover) and 13 (each parameter set): messages go
// through a real negotiation and a client and a server Protocol, with exact events and codes.

function pair(client: DeflateOptions = {}, server: DeflateOptions = {}) {
  const negotiated = negotiateDeflate(parseExtensions(offerDeflate(client)), server);
  if (negotiated === null) throw new Error('deflate was declined');
  const clientExtension = acceptDeflateResponse(parseExtensions(negotiated.response), client);
  return {
    response: negotiated.response,
    client: new Protocol({ side: 'client', extension: clientExtension }),
    server: new Protocol({ side: 'server', extension: negotiated.extension }),
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
