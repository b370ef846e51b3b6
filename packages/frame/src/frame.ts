import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from './errors.js';
import { applyMask, type MaskFunction, type MaskGenerator } from './mask.js';
import type { Opcode } from './opcode.js';

/** How to frame one payload. */
export interface FrameOptions {
  /** FIN: this frame ends its message. Default true. */
  readonly fin?: boolean;
  /** RSV1: set on the first frame of a compressed message (RFC 7692 §6). */
  readonly rsv1?: boolean;
  /**
   * Mask the payload (clients MUST, servers MUST NOT: RFC 6455 §5.1) with a key from this
   * generator. Omit for server frames.
   */
  readonly mask?: MaskGenerator | null;
  /**
   * Masks payloads of 64 bytes or more with this function instead of the built-in JavaScript
   * loop: `bufferutil`'s `mask` is about 7× faster on 64 KiB. Below 64 bytes the call costs
   * more than it saves.
   */
  readonly maskPayload?: MaskFunction | null;
  /**
   * Where a masked frame of 64 bytes or more is built: returns a buffer of exactly `size` bytes,
   * which the frame fills and is returned in. Default: a new buffer per frame. A client transport
   * can lend memory whose previous frame the kernel has already copied, so that a stream of large
   * messages does not allocate (and later free) a buffer per message.
   */
  readonly allocate?: ((size: number) => Buffer) | null;
}

const maskKey = new Uint8Array(4);
const NO_OPTIONS: FrameOptions = {};

/** Length of the header of a frame with `payloadLength` bytes (RFC 6455 §5.2). */
export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65_536 ? 4 : 10;
  return masked ? base + 4 : base;
}

function writeHeader(
  target: Uint8Array,
  opcode: number,
  payloadLength: number,
  fin: boolean,
  rsv1: boolean,
  masked: boolean,
): number {
  target[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (payloadLength < 126) {
    target[1] = maskBit | payloadLength;
    return 2;
  }
  if (payloadLength < 65_536) {
    target[1] = maskBit | 126;
    target[2] = payloadLength >>> 8;
    target[3] = payloadLength & 0xff;
    return 4;
  }
  target[1] = maskBit | 127;
  // §5.2: "the most significant bit MUST be 0". Lengths above 2^32 need the upper word.
  const high = Math.floor(payloadLength / 0x1_0000_0000);
  const low = payloadLength >>> 0;
  target[2] = 0;
  target[3] = 0;
  target[4] = (high >>> 8) & 0xff;
  target[5] = high & 0xff;
  target[6] = low >>> 24;
  target[7] = (low >>> 16) & 0xff;
  target[8] = (low >>> 8) & 0xff;
  target[9] = low & 0xff;
  return 10;
}

/**
 * Frames `payload` and returns the bytes to write, in order: `[header, payload]` for an unmasked
 * (server) frame, which never copies the payload, or one buffer for a masked (client) frame.
 *
 * The payload is never modified: a masked frame is written into a new buffer. Write every
 * returned chunk, corking the socket around them so that they leave in one segment.
 */
export function encodeFrame(
  opcode: Opcode,
  payload: Uint8Array,
  options: FrameOptions = NO_OPTIONS,
): Uint8Array[] {
  const fin = options.fin !== false;
  const rsv1 = options.rsv1 === true;
  const length = payload.length;
  if (opcode >= 0x8 && (length > 125 || !fin)) {
    // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be
    // fragmented."
    throw new InvalidArgumentError(
      'control frames carry at most 125 bytes and are never fragmented',
    );
  }
  const generateMask = options.mask;
  if (!generateMask) {
    const header = Buffer.allocUnsafe(length < 126 ? 2 : length < 65_536 ? 4 : 10);
    writeHeader(header, opcode, length, fin, rsv1, false);
    return [header, payload];
  }
  const hlen = headerLength(length, true);
  let frame: Uint8Array;
  if (length < 64) {
    frame = Buffer.allocUnsafe(hlen + length);
  } else {
    // Place the header so that the payload lands at the source's alignment modulo 4: applyMask
    // then works a word at a time.
    const pad = (payload.byteOffset - hlen) & 3;
    const size = pad + hlen + length;
    frame = options.allocate ? options.allocate(size) : Buffer.allocUnsafe(size);
    if (pad !== 0) frame = frame.subarray(pad);
  }
  const offset = writeHeader(frame, opcode, length, fin, rsv1, true) + 4;
  generateMask(maskKey);
  const m0 = maskKey[0]!;
  const m1 = maskKey[1]!;
  const m2 = maskKey[2]!;
  const m3 = maskKey[3]!;
  frame[offset - 4] = m0;
  frame[offset - 3] = m1;
  frame[offset - 2] = m2;
  frame[offset - 1] = m3;
  if (length < 64) {
    let i = 0;
    for (; i + 3 < length; i += 4) {
      frame[offset + i] = payload[i]! ^ m0;
      frame[offset + i + 1] = payload[i + 1]! ^ m1;
      frame[offset + i + 2] = payload[i + 2]! ^ m2;
      frame[offset + i + 3] = payload[i + 3]! ^ m3;
    }
    for (; i < length; i++) frame[offset + i] = payload[i]! ^ maskKey[i & 3]!;
  } else if (options.maskPayload) {
    options.maskPayload(payload, maskKey, frame, offset, length);
  } else {
    applyMask(payload, 0, length, maskKey, 0, frame, offset);
  }
  return [frame];
}

/**
 * Frames an unmasked payload into one buffer, header and payload together: one allocation and one
 * write, which beats a second chunk for small payloads. Internal to the package (the protocol uses
 * it for small server frames); `encodeFrame` is the public, zero-copy builder.
 */
export function encodeSmallUnmaskedFrame(
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  rsv1: boolean,
): Uint8Array {
  const length = payload.length;
  const frame = Buffer.allocUnsafe(headerLength(length, false) + length);
  frame.set(payload, writeHeader(frame, opcode, length, fin, rsv1, false));
  return frame;
}

/**
 * Frames a text payload given as a string, encoding it straight behind the header: one
 * allocation and one pass, with no intermediate byte array. Returns the chunks to write.
 */
export function encodeTextFrame(text: string, options: FrameOptions = NO_OPTIONS): Uint8Array[] {
  const fin = options.fin !== false;
  const rsv1 = options.rsv1 === true;
  const length = Buffer.byteLength(text, 'utf8');
  const masked = Boolean(options.mask);
  const hlen = headerLength(length, masked);
  const frame =
    masked && options.allocate && length >= 64
      ? options.allocate(hlen + length)
      : Buffer.allocUnsafe(hlen + length);
  const offset = writeHeader(frame, 0x1, length, fin, rsv1, masked);
  if (!options.mask) {
    frame.write(text, offset, length, 'utf8');
    return [frame];
  }
  options.mask(maskKey);
  frame.set(maskKey, offset);
  const start = offset + 4;
  frame.write(text, start, length, 'utf8');
  if (options.maskPayload && length >= 64) {
    options.maskPayload(frame.subarray(start), maskKey, frame, start, length);
  } else {
    applyMask(frame, start, start + length, maskKey, 0, frame, start);
  }
  return [frame];
}
