import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidCloseCode, Protocol, type ProtocolEvent, type Side } from './index.js';

// CI runs at least 10,000 cases per property (the bar); locally a quicker pass.
const NUM_RUNS = process.env['CI'] ? 10_000 : 1_000;
const FAILURE_CODES = [1002, 1006, 1007, 1009, 1011];

type Message = { type: 'text'; data: string } | { type: 'binary'; data: Uint8Array };

const message: fc.Arbitrary<Message> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .string({ unit: 'grapheme', maxLength: 300 })
      .map((data) => ({ type: 'text' as const, data })),
  },
  {
    weight: 5,
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((data) => ({ type: 'binary' as const, data })),
  },
  // Occasionally one past the 16-bit length boundary.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 65_530, max: 65_540 }), fc.integer({ min: 1, max: 255 }))
      .map(([length, seed]) => ({
        type: 'binary' as const,
        data: Uint8Array.from({ length }, (_, i) => (i * seed + (i >> 8)) & 0xff),
      })),
  },
);

const scenario: fc.Arbitrary<Scenario> = fc.record({
  messages: fc.array(
    fc.record({ message, cuts: fc.array(fc.nat(), { maxLength: 4 }), ping: fc.boolean() }),
    { maxLength: 6 },
  ),
  masks: fc.array(fc.uint8Array({ minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
  chunking: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 12 }),
});

function fragmentsOf(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (data.length === 0 ? 0 : c % data.length)))].sort(
    (a, b) => a - b,
  );
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    if (point <= start) continue;
    out.push(data.subarray(start, point));
    start = point;
  }
  out.push(data.subarray(start));
  return out;
}

function normalize(events: readonly ProtocolEvent[]): unknown[] {
  return events
    .filter((e) => e.type === 'text' || e.type === 'binary')
    .map((e) =>
      e.type === 'binary' ? { type: 'binary', data: Buffer.from(e.data).toString('hex') } : e,
    );
}

// Feeds `bytes` to `protocol` in chunks whose sizes cycle through `chunking`.
function feed(protocol: Protocol, bytes: Uint8Array, chunking: number[]): ProtocolEvent[] {
  const events: ProtocolEvent[] = [];
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const size = chunking[i++ % chunking.length]!;
    protocol.receiveData(bytes.subarray(pos, pos + size));
    events.push(...protocol.eventsReceived());
    pos += size;
  }
  return events;
}

type Scenario = {
  messages: { message: Message; cuts: number[]; ping: boolean }[];
  masks: Uint8Array[];
  chunking: number[];
};

// The bytes a `sender` protocol writes for the scenario's messages, fragmented at its cuts, with a
// Ping between fragments where asked, masked (by a client) with the scenario's masks.
function wireOf(sender: Side, { messages, masks }: Scenario): Buffer {
  let nextMask = 0;
  const from = new Protocol({
    side: sender,
    generateMask: (m) => m.set(masks[nextMask++ % masks.length]!),
  });
  for (const { message: m, cuts, ping } of messages) {
    const data = m.type === 'text' ? Buffer.from(m.data) : m.data;
    const fragments = fragmentsOf(data, cuts);
    fragments.forEach((fragment, index) => {
      const fin = index === fragments.length - 1;
      if (index === 0) {
        if (m.type === 'text') from.sendText(fragment, fin);
        else from.sendBinary(fragment, fin);
      } else {
        from.sendContinuation(fragment, fin);
      }
      // A control frame between fragments must not disturb the message.
      if (ping && !fin) from.sendPing(fragment.subarray(0, 125));
    });
  }
  return Buffer.concat(from.dataToSend());
}

// Feeds `bytes` as a socket reading into one shared buffer does, with `{ borrowed: true }`, and
// scribbles over that buffer after every call: a view of it that the protocol kept or returned
// would read the scribbles.
function feedBorrowed(protocol: Protocol, bytes: Uint8Array, chunking: number[]): ProtocolEvent[] {
  const shared = new Uint8Array(70_000);
  const events: ProtocolEvent[] = [];
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const chunk = bytes.subarray(pos, pos + chunking[i++ % chunking.length]!);
    shared.set(chunk);
    protocol.receiveData(shared.subarray(0, chunk.length), { borrowed: true });
    events.push(...protocol.eventsReceived());
    shared.fill(0xa5);
    pos += chunk.length;
  }
  return events;
}

const hex = (events: readonly ProtocolEvent[]): unknown[] =>
  events.map((e) =>
    e.type === 'binary' || e.type === 'ping' || e.type === 'pong'
      ? { type: e.type, data: Buffer.from(e.data).toString('hex') }
      : e,
  );

describe('round trips (property-based)', () => {
  for (const sender of ['client', 'server'] as const satisfies Side[]) {
    const receiver: Side = sender === 'client' ? 'server' : 'client';

    it(`delivers every message a ${sender} builds, whatever the fragmentation, masks and chunking`, () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const to = new Protocol({ side: receiver });
          const events = feed(to, wireOf(sender, s), s.chunking);
          expect(to.error).toBeNull();
          expect(normalize(events)).toEqual(
            normalize(s.messages.map(({ message: m }) => m as ProtocolEvent)),
          );
        }),
        { numRuns: NUM_RUNS },
      );
    }, 300_000);

    it(`a ${receiver} reading borrowed bytes delivers and answers the same as one that owns them`, () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const wire = wireOf(sender, s);
          // Both receivers mask their Pongs alike, so that their output can be compared.
          const mask = (m: Uint8Array) => m.set([1, 2, 3, 4]);
          const owning = new Protocol({ side: receiver, generateMask: mask });
          const borrowing = new Protocol({ side: receiver, generateMask: mask });
          const expected = feed(owning, Buffer.from(wire), s.chunking);
          const events = feedBorrowed(borrowing, wire, s.chunking);
          expect(borrowing.error).toBeNull();
          expect(hex(events)).toEqual(hex(expected));
          expect(Buffer.concat(borrowing.dataToSend())).toEqual(Buffer.concat(owning.dataToSend()));
        }),
        { numRuns: NUM_RUNS },
      );
    }, 300_000);
  }
});

describe('hostile input (property-based)', () => {
  function checkEnding(protocol: Protocol, events: ProtocolEvent[]): void {
    protocol.receiveEof();
    events.push(...protocol.eventsReceived());
    const closes = events.filter((e) => e.type === 'close');
    // Exactly one close event, and it is the last event.
    expect(closes).toHaveLength(1);
    expect(events.at(-1)!.type).toBe('close');
    if (protocol.error !== null) expect(FAILURE_CODES).toContain(protocol.error.closeCode);
    // Any Close frame the server sent carries a code that may be sent.
    const sent = Buffer.concat(protocol.dataToSend());
    let pos = 0;
    while (pos + 2 <= sent.length) {
      const opcode = sent[pos]! & 0x0f;
      let length = sent[pos + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        length = sent.readUInt16BE(pos + 2);
        header = 4;
      } else if (length === 127) {
        length = Number(sent.readBigUInt64BE(pos + 2));
        header = 10;
      }
      if (opcode === 0x8 && length >= 2) {
        expect(isValidCloseCode(sent.readUInt16BE(pos + header))).toBe(true);
      }
      pos += header + length;
    }
  }

  it('never throws on arbitrary bytes, and always ends with one close and a valid close code', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2_000 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        (bytes, chunking) => {
          const protocol = new Protocol({ side: 'server', maxMessageSize: 1_000 });
          const events = feed(protocol, new Uint8Array(bytes), chunking);
          checkEnding(protocol, events);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  // Random bytes rarely get past the first header check, so also build streams of frames with
  // random header bits, lengths and payloads, which reach every state.
  const randomFrame = fc
    .record({
      fin: fc.boolean(),
      rsv: fc.constantFrom(0, 0, 0, 0x40, 0x20, 0x10),
      opcode: fc.constantFrom(0, 0, 1, 1, 2, 2, 8, 9, 10, 3, 11),
      masked: fc.constantFrom(true, true, true, false),
      payload: fc.oneof(
        fc.uint8Array({ maxLength: 140 }),
        fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => new Uint8Array(Buffer.from(s))),
        fc
          .tuple(
            fc.constantFrom(1000, 1001, 1005, 1006, 999, 3000, 4999, 5000),
            fc.string({ maxLength: 20 }),
          )
          .map(([code, reason]) => {
            const b = Buffer.alloc(2 + Buffer.byteLength(reason));
            b.writeUInt16BE(code);
            b.write(reason, 2);
            return new Uint8Array(b);
          }),
      ),
      mask: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    })
    .map(({ fin, rsv, opcode, masked, payload, mask }) => {
      const head: number[] = [(fin ? 0x80 : 0) | rsv | opcode];
      const m = masked ? 0x80 : 0;
      if (payload.length < 126) head.push(m | payload.length);
      else head.push(m | 126, payload.length >> 8, payload.length & 0xff);
      if (masked) head.push(...mask);
      const body = masked ? payload.map((b, i) => b ^ mask[i % 4]!) : payload;
      return Buffer.concat([Buffer.from(head), body]);
    });

  it('never throws on streams of random frames, and always ends with a valid close code', () => {
    fc.assert(
      fc.property(
        fc.array(randomFrame, { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 8 }),
        (frames, chunking) => {
          const protocol = new Protocol({ side: 'server', maxMessageSize: 500 });
          const events = feed(protocol, new Uint8Array(Buffer.concat(frames)), chunking);
          checkEnding(protocol, events);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
