import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import { Protocol, type ProtocolEvent, type ProtocolOptions } from '../src/index.js';

/** Bytes from a hex string; spaces are ignored. */
export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** Hex of bytes, for readable assertions. */
export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

export const FIXED_MASK: readonly number[] = [0x37, 0xfa, 0x21, 0x3d];

export interface FrameSpec {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  mask?: readonly number[] | null;
  /** Force the 64-bit length form with these 8 bytes instead of the real length. */
  length64?: Uint8Array;
}

/** Builds a frame by hand (independently of the library's builder), masked as a client sends. */
export function frame(
  opcode: number,
  payload: Uint8Array | string = '',
  spec: FrameSpec = {},
): Uint8Array {
  const data = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload;
  const mask = spec.mask === undefined ? FIXED_MASK : spec.mask;
  const head: number[] = [
    ((spec.fin ?? true) ? 0x80 : 0) |
      (spec.rsv1 ? 0x40 : 0) |
      (spec.rsv2 ? 0x20 : 0) |
      (spec.rsv3 ? 0x10 : 0) |
      opcode,
  ];
  const maskBit = mask ? 0x80 : 0;
  if (spec.length64) head.push(maskBit | 127, ...spec.length64);
  else if (data.length < 126) head.push(maskBit | data.length);
  else if (data.length < 65536) head.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  else {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(data.length));
    head.push(maskBit | 127, ...b);
  }
  if (mask) head.push(...mask);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  for (let i = 0; i < data.length; i++) out[head.length + i] = data[i]! ^ (mask ? mask[i % 4]! : 0);
  return out;
}

/** An unmasked frame, as a server sends. */
export function serverFrame(
  opcode: number,
  payload: Uint8Array | string = '',
  spec: FrameSpec = {},
): Uint8Array {
  return frame(opcode, payload, { ...spec, mask: null });
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export interface Outcome {
  events: unknown[];
  sent: string;
  errorCode: string | null;
  closeTransport: boolean;
}

function normalize(event: ProtocolEvent): unknown {
  if (event.type === 'binary' || event.type === 'ping' || event.type === 'pong') {
    return { type: event.type, data: toHex(event.data) };
  }
  return event;
}

/**
 * Feeds `input` (split into `chunks`) to a fresh protocol and collects what came out. The input is
 * copied first, since the protocol unmasks in place.
 */
export function run(
  input: Uint8Array,
  options: ProtocolOptions = { side: 'server' },
  cuts: readonly number[] = [],
): Outcome {
  const protocol = new Protocol(options);
  const copy = new Uint8Array(input);
  let start = 0;
  for (const cut of [...cuts, copy.length]) {
    protocol.receiveData(copy.subarray(start, cut));
    start = cut;
  }
  // As an I/O layer does: take events until there are none (a Close frame or a failure that
  // follows messages takes effect in the call after the one that returns them).
  const events: ProtocolEvent[] = [];
  for (let batch = protocol.eventsReceived(); batch.length > 0; batch = protocol.eventsReceived()) {
    events.push(...batch);
  }
  return {
    events: events.map(normalize),
    sent: protocol.dataToSend().map(toHex).join(''),
    errorCode: protocol.error?.code ?? null,
    closeTransport: protocol.shouldCloseTransport(),
  };
}

/**
 * Runs `input` whole, one byte at a time, and split in two at every byte boundary (at most
 * `maxSplits` of them, spread evenly), asserting the outcome never changes; returns it.
 */
export function receiveEverySplit(
  input: Uint8Array,
  options: ProtocolOptions = { side: 'server' },
  maxSplits = 4096,
): Outcome {
  const whole = run(input, options);
  expect(
    run(
      input,
      options,
      Array.from({ length: input.length }, (_, i) => i),
    ),
    'one byte at a time',
  ).toEqual(whole);
  const step = Math.max(1, Math.ceil(input.length / maxSplits));
  for (let cut = 1; cut < input.length; cut += step) {
    expect(run(input, options, [cut]), `split at ${cut}`).toEqual(whole);
  }
  return whole;
}

/** The bytes of a Close frame with `code` as a server (unmasked) sends it. */
export function closeFrameHex(code?: number, reason = ''): string {
  if (code === undefined) return '8800';
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code);
  payload.write(reason, 2);
  return toHex(serverFrame(0x8, payload));
}

/**
 * Asserts the protocol failed the connection (RFC 6455 §7.1.7): a Close frame with `closeCode`
 * sent as the last frame, the error code kept, a 1006 close event, and (server) the transport to
 * be closed.
 */
export function expectConnectionFailing(
  outcome: Outcome,
  closeCode: number,
  errorCode: string,
): void {
  expect(outcome.errorCode).toBe(errorCode);
  const sent = Buffer.from(outcome.sent, 'hex');
  // Find the final frame: the close frame is always the last one sent.
  expect(sent.length).toBeGreaterThanOrEqual(4);
  const closeStart =
    sent.length - (sent[sent.length - 1] === undefined ? 0 : findLastCloseLength(sent));
  expect(sent[closeStart]).toBe(0x88);
  expect(sent.readUInt16BE(closeStart + 2)).toBe(closeCode);
  expect(outcome.events.at(-1)).toEqual({ type: 'close', code: 1006, reason: '' });
  expect(outcome.closeTransport).toBe(true);
}

function findLastCloseLength(sent: Buffer): number {
  // Walk the unmasked frames the server sent and return the length of the last one.
  let pos = 0;
  let last = 0;
  while (pos < sent.length) {
    const length = sent[pos + 1]! & 0x7f;
    const size = 2 + length;
    last = size;
    pos += size;
  }
  return last;
}

/** Asserts that exactly these frames were sent, in order (as hex of unmasked frames). */
export function expectFramesSent(outcome: Outcome, ...frames: Uint8Array[]): void {
  expect(outcome.sent).toBe(frames.map(toHex).join(''));
}

/** Deterministic pseudo-random numbers (mulberry32), so that failures can be replayed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
