import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  closeFrameHex,
  concat,
  expectConnectionFailing,
  expectFramesSent,
  frame,
  hex,
  receiveEverySplit,
  run,
  serverFrame,
  toHex,
} from '../test/helpers.js';
import { InvalidArgumentError, InvalidStateError, Protocol, State } from './index.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

function bytes(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function closePayload(code: number, reason: Uint8Array | string = ''): Uint8Array {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const out = new Uint8Array(2 + r.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

describe('1. framing', () => {
  for (const length of [0, 1, 125, 126, 127, 128, 65_535, 65_536, 100_000]) {
    it(`delivers a ${length}-byte text message exactly, whatever the chunking`, () => {
      const text = 'a'.repeat(length);
      const outcome =
        length <= 128
          ? receiveEverySplit(frame(TEXT, text))
          : run(frame(TEXT, text), { side: 'server' }, [3, 9, 1000]);
      expect(outcome.events).toEqual([{ type: 'text', data: text }]);
      expect(outcome.sent).toBe('');
    });

    it(`delivers a ${length}-byte binary message exactly`, () => {
      const payload = bytes(length);
      const outcome = run(
        frame(BINARY, payload),
        { side: 'server' },
        length > 10 ? [1, 7, 10] : [],
      );
      expect(outcome.events).toEqual([{ type: 'binary', data: toHex(payload) }]);
    });
  }

  it('accepts the 16-bit length form and the 64-bit form for the same payload', () => {
    const payload = bytes(300);
    const length64 = new Uint8Array(8);
    length64[6] = 300 >> 8;
    length64[7] = 300 & 0xff;
    const a = run(frame(BINARY, payload));
    const b = run(frame(BINARY, payload, { length64 }));
    expect(b.events).toEqual(a.events);
  });

  it('delivers many frames from one read in order', () => {
    const input = concat(frame(TEXT, 'one'), frame(BINARY, bytes(3)), frame(TEXT, 'three'));
    expect(receiveEverySplit(input).events).toEqual([
      { type: 'text', data: 'one' },
      { type: 'binary', data: toHex(bytes(3)) },
      { type: 'text', data: 'three' },
    ]);
  });

  it('fails with 1002 when a client frame is not masked', () => {
    expectConnectionFailing(
      receiveEverySplit(frame(TEXT, 'hi', { mask: null })),
      1002,
      'ERR_EXPECTED_MASK',
    );
  });

  it('fails with 1002 when a server frame is masked', () => {
    const outcome = receiveEverySplit(frame(TEXT, 'hi'), {
      side: 'client',
      generateMask: (m) => m.fill(0),
    });
    expect(outcome.errorCode).toBe('ERR_UNEXPECTED_MASK');
    // A client sends a masked Close frame and waits for the server to close TCP (§7.1.1).
    const sent = Buffer.from(outcome.sent, 'hex');
    expect(sent[0]).toBe(0x88);
    expect(sent[1]! & 0x80).toBe(0x80);
    expect(sent.readUInt16BE(6)).toBe(1002);
    expect(sent.subarray(8).toString()).toBe('server frame is masked');
    expect(outcome.closeTransport).toBe(false);
  });

  it('reads unmasked server frames on the client side', () => {
    const outcome = receiveEverySplit(serverFrame(TEXT, 'from server'), { side: 'client' });
    expect(outcome.events).toEqual([{ type: 'text', data: 'from server' }]);
  });

  it('fails with 1002 on a 64-bit length with the most significant bit set, before any payload', () => {
    const length64 = hex('80 00 00 00 00 00 00 01');
    const outcome = run(frame(BINARY, '', { length64 }));
    expectConnectionFailing(outcome, 1002, 'ERR_INVALID_LENGTH');
  });
});

describe('2. pings and pongs', () => {
  it('answers a ping without payload with a pong', () => {
    const outcome = receiveEverySplit(frame(PING));
    expect(outcome.events).toEqual([{ type: 'ping', data: '' }]);
    expectFramesSent(outcome, serverFrame(PONG));
  });

  it('answers a ping with the same 125-byte binary payload', () => {
    const payload = bytes(125);
    const outcome = receiveEverySplit(frame(PING, payload));
    expect(outcome.events).toEqual([{ type: 'ping', data: toHex(payload) }]);
    expectFramesSent(outcome, serverFrame(PONG, payload));
  });

  it('fails with 1002 on a ping of 126 bytes', () => {
    expectConnectionFailing(
      receiveEverySplit(frame(PING, bytes(126))),
      1002,
      'ERR_CONTROL_FRAME_TOO_LONG',
    );
  });

  it('reports an unsolicited pong and sends nothing', () => {
    const outcome = receiveEverySplit(frame(PONG, 'unsolicited'));
    expect(outcome.events).toEqual([{ type: 'pong', data: toHex(Buffer.from('unsolicited')) }]);
    expect(outcome.sent).toBe('');
  });

  it('answers ten pings with ten pongs, in order', () => {
    const pings = Array.from({ length: 10 }, (_, i) => frame(PING, `ping ${i}`));
    const outcome = receiveEverySplit(concat(...pings));
    expectFramesSent(
      outcome,
      ...Array.from({ length: 10 }, (_, i) => serverFrame(PONG, `ping ${i}`)),
    );
  });

  it('masks the pong a client sends with a key from the injected source', () => {
    const outcome = run(serverFrame(PING, 'ab'), {
      side: 'client',
      generateMask: (m) => m.set([1, 2, 3, 4]),
    });
    expect(outcome.sent).toBe(`8a8201020304${toHex(new Uint8Array([0x61 ^ 1, 0x62 ^ 2]))}`);
  });
});

describe('3. reserved bits', () => {
  for (const [name, spec] of [
    ['RSV1', { rsv1: true }],
    ['RSV2', { rsv2: true }],
    ['RSV3', { rsv3: true }],
    ['RSV1+RSV2+RSV3', { rsv1: true, rsv2: true, rsv3: true }],
  ] as const) {
    it(`fails with 1002 on ${name} without a negotiated extension, before anything is delivered`, () => {
      const input = concat(frame(TEXT, 'ok'), frame(TEXT, 'bad', spec), frame(TEXT, 'never'));
      const outcome = receiveEverySplit(input);
      expect(outcome.events[0]).toEqual({ type: 'text', data: 'ok' });
      expect(outcome.events).toHaveLength(2);
      expectConnectionFailing(outcome, 1002, 'ERR_UNEXPECTED_RSV');
    });
  }

  it('fails with 1002 on RSV1 on a ping, a continuation or with RSV2, even with deflate negotiated', () => {
    const extension = {
      name: 'x',
      decode: (d: Uint8Array) => d,
      shouldEncode: () => false,
      encode: (d: Uint8Array) => d,
    };
    expect(run(frame(PING, '', { rsv1: true }), { side: 'server', extension }).errorCode).toBe(
      'ERR_UNEXPECTED_RSV',
    );
    expect(
      run(concat(frame(TEXT, 'a', { fin: false }), frame(CONT, 'b', { rsv1: true })), {
        side: 'server',
        extension,
      }).errorCode,
    ).toBe('ERR_UNEXPECTED_RSV');
    expect(run(frame(TEXT, 'a', { rsv2: true }), { side: 'server', extension }).errorCode).toBe(
      'ERR_UNEXPECTED_RSV',
    );
  });
});

describe('4. opcodes', () => {
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`fails with 1002 on reserved opcode ${opcode}`, () => {
      const outcome = receiveEverySplit(concat(frame(TEXT, 'ok'), frame(opcode, 'x'), frame(PING)));
      expect(outcome.events[0]).toEqual({ type: 'text', data: 'ok' });
      expectConnectionFailing(outcome, 1002, 'ERR_INVALID_OPCODE');
      // Nothing after the bad frame is processed: no pong.
      expect(outcome.sent.startsWith('8a')).toBe(false);
    });
  }
});

describe('5. fragmentation', () => {
  it('fails with 1002 on a fragmented ping or pong', () => {
    expectConnectionFailing(
      receiveEverySplit(concat(frame(PING, 'a', { fin: false }), frame(CONT, 'b'))),
      1002,
      'ERR_FRAGMENTED_CONTROL_FRAME',
    );
    expectConnectionFailing(
      receiveEverySplit(frame(PONG, 'a', { fin: false })),
      1002,
      'ERR_FRAGMENTED_CONTROL_FRAME',
    );
  });

  it('joins a text message sent in two fragments', () => {
    const outcome = receiveEverySplit(
      concat(frame(TEXT, 'frag', { fin: false }), frame(CONT, 'ment')),
    );
    expect(outcome.events).toEqual([{ type: 'text', data: 'fragment' }]);
  });

  it('joins fragments of every size including empty ones', () => {
    const input = concat(
      frame(BINARY, '', { fin: false }),
      frame(CONT, bytes(200), { fin: false }),
      frame(CONT, '', { fin: false }),
      frame(CONT, bytes(3, 9)),
    );
    const outcome = receiveEverySplit(input);
    expect(outcome.events).toEqual([
      { type: 'binary', data: toHex(concat(bytes(200), bytes(3, 9))) },
    ]);
  });

  it('delivers a ping between fragments before the message, and answers it at once', () => {
    const input = concat(
      frame(TEXT, 'frag', { fin: false }),
      frame(PING, 'p'),
      frame(CONT, 'ment'),
    );
    const outcome = receiveEverySplit(input);
    expect(outcome.events).toEqual([
      { type: 'ping', data: toHex(Buffer.from('p')) },
      { type: 'text', data: 'fragment' },
    ]);
    expectFramesSent(outcome, serverFrame(PONG, 'p'));
  });

  it('fails with 1002 on a continuation with no message started', () => {
    expectConnectionFailing(
      receiveEverySplit(frame(CONT, 'orphan')),
      1002,
      'ERR_UNEXPECTED_CONTINUATION',
    );
    expectConnectionFailing(
      receiveEverySplit(concat(frame(TEXT, 'done'), frame(CONT, 'orphan'))),
      1002,
      'ERR_UNEXPECTED_CONTINUATION',
    );
  });

  it('fails with 1002 on a new data frame inside a fragmented message', () => {
    expectConnectionFailing(
      receiveEverySplit(concat(frame(TEXT, 'a', { fin: false }), frame(TEXT, 'b'))),
      1002,
      'ERR_EXPECTED_CONTINUATION',
    );
    expectConnectionFailing(
      receiveEverySplit(
        concat(frame(BINARY, 'a', { fin: false }), frame(BINARY, 'b', { fin: false })),
      ),
      1002,
      'ERR_EXPECTED_CONTINUATION',
    );
  });
});

describe('6. UTF-8', () => {
  const valid = [
    '',
    'κόσμε',
    '\u{10FFFF}',
    '\u{FFFF}',
    '\u{800}',
    'Hello-µ@ßöäüàá-UTF-8!!',
    '\u{1F600}'.repeat(40),
  ];
  for (const text of valid) {
    it(`accepts ${JSON.stringify(text).slice(0, 30)} in one frame and in one-byte fragments`, () => {
      expect(receiveEverySplit(frame(TEXT, text)).events).toEqual([{ type: 'text', data: text }]);
      const encoded = Buffer.from(text);
      if (encoded.length > 1) {
        const fragments = Array.from(encoded, (b, i) =>
          frame(i === 0 ? TEXT : CONT, new Uint8Array([b]), { fin: i === encoded.length - 1 }),
        );
        expect(run(concat(...fragments)).events).toEqual([{ type: 'text', data: text }]);
      }
    });
  }

  const invalid: Array<[string, string]> = [
    ['a lone continuation byte', '80'],
    ['an overlong encoding of "/"', 'c0af'],
    ['an overlong 3-byte sequence', 'e08080'],
    ['a UTF-16 surrogate', 'eda080'],
    ['a code point above U+10FFFF', 'f4908080'],
    ['a 5-byte sequence', 'f888808080'],
    ['byte 0xFE', 'fe'],
    ['a truncated sequence at the end', '68656c6ce282'],
  ];
  for (const [name, bad] of invalid) {
    it(`fails with 1007 on ${name}`, () => {
      expectConnectionFailing(
        receiveEverySplit(frame(TEXT, hex(`cebae1bdb9 ${bad}`))),
        1007,
        'ERR_INVALID_UTF8',
      );
    });
  }

  it('fails fast: the fragment that makes the message invalid fails it, before the message ends', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(frame(TEXT, hex('cebae1bdb9cf83ceb5'), { fin: false }));
    protocol.receiveData(frame(CONT, hex('f490'), { fin: false }));
    expect(protocol.error?.code).toBe('ERR_INVALID_UTF8');
    expect(toHex(protocol.dataToSend()[0]!)).toBe(
      closeFrameHex(1007, 'invalid UTF-8 in text message'),
    );
  });

  it('fails fast inside one frame that arrives in pieces', () => {
    const protocol = new Protocol({ side: 'server' });
    const input = frame(TEXT, concat(hex('ff'), bytes(1000)));
    protocol.receiveData(input.subarray(0, 20));
    expect(protocol.error?.code).toBe('ERR_INVALID_UTF8');
  });

  it('accepts binary messages that are not UTF-8', () => {
    expect(run(frame(BINARY, hex('ff fe c0 af'))).events).toEqual([
      { type: 'binary', data: 'fffec0af' },
    ]);
  });
});

describe('7. close handshake', () => {
  it('echoes a close code and reason, reports them, and the server closes TCP', () => {
    const outcome = receiveEverySplit(frame(CLOSE, closePayload(1000, 'bye')));
    expect(outcome.events).toEqual([{ type: 'close', code: 1000, reason: 'bye' }]);
    expect(outcome.sent).toBe(closeFrameHex(1000));
    expect(outcome.closeTransport).toBe(true);
    expect(outcome.errorCode).toBeNull();
  });

  it('answers an empty close with an empty close and reports 1005', () => {
    const outcome = receiveEverySplit(frame(CLOSE));
    expect(outcome.events).toEqual([{ type: 'close', code: 1005, reason: '' }]);
    expect(outcome.sent).toBe('8800');
  });

  it('ignores everything after a close frame', () => {
    const input = concat(
      frame(CLOSE, closePayload(1001)),
      frame(PING),
      frame(TEXT, 'late'),
      frame(CLOSE),
    );
    const outcome = receiveEverySplit(input);
    expect(outcome.events).toEqual([{ type: 'close', code: 1001, reason: '' }]);
    expect(outcome.sent).toBe(closeFrameHex(1001));
  });

  it('accepts a 123-byte reason and fails with 1002 on 124 (a 126-byte control frame)', () => {
    const ok = receiveEverySplit(frame(CLOSE, closePayload(1000, 'r'.repeat(123))));
    expect(ok.events).toEqual([{ type: 'close', code: 1000, reason: 'r'.repeat(123) }]);
    expectConnectionFailing(
      receiveEverySplit(frame(CLOSE, closePayload(1000, 'r'.repeat(124)))),
      1002,
      'ERR_CONTROL_FRAME_TOO_LONG',
    );
  });

  it('fails with 1002 on a 1-byte close payload', () => {
    expectConnectionFailing(
      receiveEverySplit(frame(CLOSE, hex('03'))),
      1002,
      'ERR_INVALID_CLOSE_PAYLOAD',
    );
  });

  it('fails with 1007 on a close reason that is not UTF-8', () => {
    expectConnectionFailing(
      receiveEverySplit(frame(CLOSE, closePayload(1000, hex('cebae1bdb9 eda080')))),
      1007,
      'ERR_INVALID_UTF8',
    );
  });

  for (const code of [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
  ]) {
    it(`echoes valid close code ${code}`, () => {
      const outcome = run(frame(CLOSE, closePayload(code)));
      expect(outcome.events).toEqual([{ type: 'close', code, reason: '' }]);
      expect(outcome.sent).toBe(closeFrameHex(code));
    });
  }

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535]) {
    it(`fails with 1002 on invalid close code ${code}`, () => {
      expectConnectionFailing(
        run(frame(CLOSE, closePayload(code))),
        1002,
        'ERR_INVALID_CLOSE_CODE',
      );
    });
  }

  it('completes a closing handshake the server starts: state, echo and who closes TCP', () => {
    const server = new Protocol({ side: 'server' });
    server.sendClose(4000, 'done');
    expect(server.state).toBe(State.CLOSING);
    expect(server.closeExpected()).toBe(true);
    expect(toHex(server.dataToSend()[0]!)).toBe(closeFrameHex(4000, 'done'));
    expect(server.shouldCloseTransport()).toBe(false);
    expect(() => server.sendText('late')).toThrow(InvalidStateError);
    server.receiveData(frame(CLOSE, closePayload(4000)));
    expect(server.eventsReceived()).toEqual([{ type: 'close', code: 4000, reason: '' }]);
    expect(server.dataToSend()).toEqual([]);
    expect(server.shouldCloseTransport()).toBe(true);
    server.receiveEof();
    expect(server.state).toBe(State.CLOSED);
    expect(server.error).toBeNull();
  });

  it('lets a client wait for the server to close TCP after the closing handshake', () => {
    const client = new Protocol({ side: 'client', generateMask: (m) => m.fill(0) });
    client.receiveData(serverFrame(CLOSE, closePayload(1000)));
    expect(client.shouldCloseTransport()).toBe(false);
    expect(client.closeExpected()).toBe(true);
    client.receiveEof();
    expect(client.shouldCloseTransport()).toBe(true);
    expect(client.error).toBeNull();
  });

  it('reports 1006 and sends nothing when the connection ends without a close frame', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(frame(TEXT, 'x', { fin: false }));
    protocol.receiveEof();
    expect(protocol.eventsReceived()).toEqual([{ type: 'close', code: 1006, reason: '' }]);
    expect(protocol.dataToSend()).toEqual([]);
    expect(protocol.error?.code).toBe('ERR_UNEXPECTED_EOF');
    expect(() => protocol.receiveData(frame(TEXT, 'x'))).toThrow(InvalidStateError);
  });

  it('validates outgoing close codes and reasons, and copies a typed-array reason exactly', () => {
    const protocol = new Protocol({ side: 'server' });
    expect(() => protocol.sendClose(1005)).toThrow(InvalidArgumentError);
    expect(() => protocol.sendClose(1006)).toThrow(InvalidArgumentError);
    expect(() => protocol.sendClose(999)).toThrow(InvalidArgumentError);
    expect(() => protocol.sendClose(1000, 'x'.repeat(124))).toThrow(InvalidArgumentError);
    expect(() => protocol.sendClose(1000, new Uint8Array([0xff]))).toThrow(InvalidArgumentError);
    // A Uint16Array view into a larger buffer full of other data (ws CVE-2026-45736): only the
    // view's own bytes may reach the wire.
    const backing = new Uint8Array(64).fill(0x41);
    const reason = new Uint16Array(backing.buffer, 8, 2);
    new Uint8Array(backing.buffer, 8, 4).set(Buffer.from('okay'));
    protocol.sendClose(1000, reason);
    expect(toHex(protocol.dataToSend()[0]!)).toBe(closeFrameHex(1000, 'okay'));
  });

  it('sends 1000 for a reason without a code, and an empty close for neither', () => {
    const a = new Protocol({ side: 'server' });
    a.sendClose(undefined, 'bye');
    expect(toHex(a.dataToSend()[0]!)).toBe(closeFrameHex(1000, 'bye'));
    const b = new Protocol({ side: 'server' });
    b.sendClose();
    expect(toHex(b.dataToSend()[0]!)).toBe('8800');
  });
});

describe('9. large messages', () => {
  it('delivers 4 MiB text and binary messages read in 64 KiB chunks', () => {
    const text = 'abcdefgh'.repeat(512 * 1024);
    const input = frame(TEXT, text);
    const cuts = Array.from(
      { length: Math.floor(input.length / 65_536) },
      (_, i) => (i + 1) * 65_536,
    );
    expect(run(input, { side: 'server' }, cuts).events).toEqual([{ type: 'text', data: text }]);
    const payload = bytes(4 * 1024 * 1024);
    const outcome = run(frame(BINARY, payload), { side: 'server' }, cuts);
    expect(outcome.events).toEqual([{ type: 'binary', data: toHex(payload) }]);
  });

  it('accepts a message of 65,536 fragments of 64 bytes (Autobahn 9.3.1)', () => {
    const chunk = 'x'.repeat(64);
    const fragments: Uint8Array[] = [];
    for (let i = 0; i < 65_536; i++)
      fragments.push(frame(i === 0 ? TEXT : CONT, chunk, { fin: i === 65_535 }));
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(concat(...fragments));
    const events = protocol.eventsReceived();
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({ type: 'text', data: chunk.repeat(65_536) });
  });
});

describe('10. limits', () => {
  it('fails with 1009 on a header announcing 2 GiB, with none of the payload sent', () => {
    const length64 = hex('00 00 00 00 80 00 00 00');
    const outcome = run(frame(BINARY, '', { length64 }));
    expectConnectionFailing(outcome, 1009, 'ERR_MESSAGE_TOO_BIG');
  });

  it('fails with 1009 on the fragment that takes a message over the limit', () => {
    const options = { side: 'server', maxMessageSize: 1000 } as const;
    expect(run(frame(BINARY, bytes(1000)), options).events).toHaveLength(1);
    const input = concat(frame(BINARY, bytes(600), { fin: false }), frame(CONT, bytes(401)));
    // Only the header of the second fragment is needed to refuse it.
    const headerEnd = frame(BINARY, bytes(600), { fin: false }).length + 8;
    const protocol = new Protocol(options);
    protocol.receiveData(new Uint8Array(input.subarray(0, headerEnd)));
    expect(protocol.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(protocol.error?.closeCode).toBe(1009);
  });

  it('holds memory for a fragment flood in proportion to its bytes, not its fragment count', () => {
    // ws CVE-2026-48779 / CVE-2026-62389: one start frame, then 100,000 one-byte continuations.
    const protocol = new Protocol({ side: 'server' });
    const parts = [frame(BINARY, 'a', { fin: false })];
    for (let i = 0; i < 100_000; i++) parts.push(frame(CONT, 'b', { fin: false }));
    const input = concat(...parts);
    for (let pos = 0; pos < input.length; pos += 4096)
      protocol.receiveData(input.subarray(pos, pos + 4096));
    expect(protocol.error).toBeNull();
    const carried = 100_001;
    expect(protocol.receiveBufferSize).toBeGreaterThanOrEqual(carried);
    expect(protocol.receiveBufferSize).toBeLessThanOrEqual(2 * carried);
  });

  it('reserves nothing for a large frame until its bytes arrive', () => {
    const protocol = new Protocol({ side: 'server' });
    const input = frame(BINARY, bytes(8 * 1024 * 1024));
    protocol.receiveData(input.subarray(0, 100));
    expect(protocol.receiveBufferSize).toBeLessThanOrEqual(1024);
  });
});

describe('sending', () => {
  it('frames server messages unmasked, byte for byte', () => {
    const server = new Protocol({ side: 'server' });
    server.sendText('Hello');
    server.sendBinary(hex('01 02'));
    server.sendPing(Buffer.from('p'));
    server.sendPong();
    expect(server.dataToSend().map(toHex)).toEqual([
      '810548656c6c6f',
      '82020102',
      '890170',
      '8a00',
    ]);
  });

  it('frames client messages masked with the injected key, as RFC 6455 §5.7 shows', () => {
    const client = new Protocol({
      side: 'client',
      generateMask: (m) => m.set([0x37, 0xfa, 0x21, 0x3d]),
    });
    client.sendText('Hello');
    expect(toHex(client.dataToSend()[0]!)).toBe('818537fa213d7f9f4d5158');
    client.sendBinary(Buffer.from('Hello'));
    expect(toHex(client.dataToSend()[0]!)).toBe('828537fa213d7f9f4d5158');
  });

  it('never modifies the payload it masks', () => {
    const client = new Protocol({ side: 'client' });
    const payload = bytes(5000);
    const before = toHex(payload);
    client.sendBinary(payload);
    expect(toHex(payload)).toBe(before);
  });

  it('sends a large unmasked payload without copying it', () => {
    const server = new Protocol({ side: 'server' });
    const payload = bytes(70_000);
    server.sendBinary(payload);
    const chunks = server.dataToSend();
    expect(chunks).toHaveLength(2);
    expect(toHex(chunks[0]!)).toBe('827f0000000000011170');
    expect(chunks[1]).toBe(payload);
  });

  it('sends fragmented messages in order and refuses out-of-order continuations', () => {
    const server = new Protocol({ side: 'server' });
    expect(() => server.sendContinuation(hex('00'), true)).toThrow(InvalidStateError);
    server.sendText('frag', false);
    expect(() => server.sendText('new')).toThrow(InvalidStateError);
    server.sendPing();
    server.sendContinuation(Buffer.from('ment'), true);
    expect(server.dataToSend().map(toHex)).toEqual(['010466726167', '8900', '80046d656e74']);
  });

  it('refuses control payloads over 125 bytes', () => {
    const server = new Protocol({ side: 'server' });
    expect(() => server.sendPing(bytes(126))).toThrow(InvalidArgumentError);
  });

  it('round-trips text through a client and a server protocol', () => {
    const client = new Protocol({ side: 'client' });
    const server = new Protocol({ side: 'server' });
    client.sendText('héllo wörld');
    for (const chunk of client.dataToSend()) server.receiveData(chunk);
    expect(server.eventsReceived()).toEqual([{ type: 'text', data: 'héllo wörld' }]);
  });
});

describe('failures', () => {
  it('maps an unexpected exception to 1011 with no details on the wire', () => {
    const extension = {
      name: 'broken',
      decode: (): Uint8Array => {
        throw new TypeError('secret internals');
      },
      shouldEncode: () => false,
      encode: (d: Uint8Array) => d,
    };
    const outcome = run(frame(TEXT, 'x', { rsv1: true }), { side: 'server', extension });
    expect(outcome.errorCode).toBe('ERR_INTERNAL');
    expect(outcome.sent).toBe('880203f3');
  });

  it('fails only once, and sends a single close frame', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.fail(1008, 'policy');
    protocol.fail(1011);
    expect(protocol.dataToSend().map(toHex)).toEqual([closeFrameHex(1008, 'policy')]);
    expect(protocol.eventsReceived()).toEqual([{ type: 'close', code: 1006, reason: '' }]);
  });
});

// Autobahn|Testsuite cases 3.2–3.4, 4.1.3–4.2.5 and 5.15 (strict): a valid message, then a frame
// that breaks the protocol, in one read. The answer to the message must leave before the Close.
describe('strict order: messages before the end of the input are answered first', () => {
  const echoThenEnd = (protocol: Protocol, input: Uint8Array) => {
    protocol.receiveData(input);
    const first = protocol.eventsReceived();
    const stateBetween = protocol.state;
    for (const event of first) if (event.type === 'text') protocol.sendText(`echo: ${event.data}`);
    const second = protocol.eventsReceived();
    return { first, stateBetween, second, sent: protocol.dataToSend().map(toHex).join('') };
  };

  it('sends the answer to a message, then the 1002 Close, when a bad frame follows it', () => {
    const protocol = new Protocol({ side: 'server' });
    const result = echoThenEnd(protocol, concat(frame(TEXT, 'ok'), frame(5, 'x'), frame(PING)));
    expect(result.first).toEqual([{ type: 'text', data: 'ok' }]);
    expect(result.stateBetween).toBe(State.OPEN);
    expect(result.second).toEqual([{ type: 'close', code: 1006, reason: '' }]);
    expect(result.sent).toBe(
      toHex(serverFrame(TEXT, 'echo: ok')) + closeFrameHex(1002, 'reserved opcode 5'),
    );
    expect(protocol.error?.code).toBe('ERR_INVALID_OPCODE');
    expect(protocol.shouldCloseTransport()).toBe(true);
  });

  it('sends the answer, then the 1007 Close, when the next message is not UTF-8', () => {
    const protocol = new Protocol({ side: 'client' });
    const result = echoThenEnd(
      protocol,
      concat(serverFrame(TEXT, 'fine'), serverFrame(TEXT, hex('cebae1bdb9 f4908080'))),
    );
    expect(result.first).toEqual([{ type: 'text', data: 'fine' }]);
    expect(result.second).toEqual([{ type: 'close', code: 1006, reason: '' }]);
    // A client's frames are masked: read the opcodes and the close code from the unmasked form.
    expect(protocol.closeSent).toBe(true);
    expect(protocol.error?.code).toBe('ERR_INVALID_UTF8');
    expect(result.sent.slice(0, 2)).toBe('81'); // the text answer first
  });

  it('sends the answer, then echoes the Close, when a Close frame follows a message', () => {
    const protocol = new Protocol({ side: 'server' });
    const result = echoThenEnd(
      protocol,
      concat(frame(TEXT, 'bye'), frame(CLOSE, closePayload(1000))),
    );
    expect(result.first).toEqual([{ type: 'text', data: 'bye' }]);
    expect(result.stateBetween).toBe(State.OPEN);
    expect(result.second).toEqual([{ type: 'close', code: 1000, reason: '' }]);
    expect(result.sent).toBe(toHex(serverFrame(TEXT, 'echo: bye')) + closeFrameHex(1000));
    expect(protocol.closeReceived).toBe(true);
    expect(protocol.shouldCloseTransport()).toBe(true);
  });

  it('fails at once when nothing waits to be taken', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(frame(5, 'x'));
    expect(protocol.closeSent).toBe(true);
    expect(protocol.dataToSend().map(toHex).join('')).toBe(
      closeFrameHex(1002, 'reserved opcode 5'),
    );
    expect(protocol.eventsReceived()).toEqual([{ type: 'close', code: 1006, reason: '' }]);
  });

  it('applies a held-back Close frame before an EOF that follows it', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(concat(frame(TEXT, 'a'), frame(CLOSE, closePayload(4000))));
    expect(protocol.eventsReceived()).toEqual([{ type: 'text', data: 'a' }]);
    protocol.receiveEof();
    expect(protocol.eventsReceived()).toEqual([{ type: 'close', code: 4000, reason: '' }]);
    expect(protocol.closeReceived).toBe(true);
    expect(protocol.error).toBe(null);
  });

  it('ignores bytes that arrive while the end of the input is held back', () => {
    const protocol = new Protocol({ side: 'server' });
    protocol.receiveData(concat(frame(TEXT, 'a'), frame(CLOSE, closePayload(1000))));
    protocol.receiveData(frame(TEXT, 'after the close'));
    expect(protocol.eventsReceived()).toEqual([{ type: 'text', data: 'a' }]);
    expect(protocol.eventsReceived()).toEqual([{ type: 'close', code: 1000, reason: '' }]);
    expect(protocol.eventsReceived()).toEqual([]);
  });
});
