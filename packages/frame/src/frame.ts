import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from './errors.js';
import { applyMask, type MaskGenerator } from './mask.js';
import { isControlOpcode, type Opcode } from './opcode.js';

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
}

// Payloads up to this size are copied behind their header, so one frame is one write; larger
// ones are returned as [header, payload] and never copied.
const MERGE_LIMIT = 1024;
const maskKey = new Uint8Array(4);

/** Length of the header of a frame with `payloadLength` bytes (RFC 6455 §5.2). */
export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65_536 ? 4 : 10;
  return masked ? base + 4 : base;
}

function writeHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  payloadLength: number,
  fin: boolean,
  rsv1: boolean,
  masked: boolean,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (payloadLength < 126) {
    target[offset + 1] = maskBit | payloadLength;
    return offset + 2;
  }
  if (payloadLength < 65_536) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = payloadLength >>> 8;
    target[offset + 3] = payloadLength & 0xff;
    return offset + 4;
  }
  target[offset + 1] = maskBit | 127;
  // §5.2: "the most significant bit MUST be 0". Lengths above 2^32 need the upper word.
  const high = Math.floor(payloadLength / 0x1_0000_0000);
  const low = payloadLength >>> 0;
  target[offset + 2] = 0;
  target[offset + 3] = 0;
  target[offset + 4] = (high >>> 8) & 0xff;
  target[offset + 5] = high & 0xff;
  target[offset + 6] = low >>> 24;
  target[offset + 7] = (low >>> 16) & 0xff;
  target[offset + 8] = (low >>> 8) & 0xff;
  target[offset + 9] = low & 0xff;
  return offset + 10;
}

/**
 * Frames `payload` and returns the bytes to write, in order: one chunk, or `[header, payload]`
 * when an unmasked payload is large enough that copying it would cost more than a second write.
 *
 * The payload is never modified: a masked frame gets a new buffer. Write every returned chunk (a
 * socket should be corked around them, so that they leave in one segment).
 */
export function encodeFrame(
  opcode: Opcode,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array[] {
  const fin = options.fin ?? true;
  const rsv1 = options.rsv1 ?? false;
  const length = payload.length;
  if (isControlOpcode(opcode) && (length > 125 || !fin)) {
    // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be
    // fragmented."
    throw new InvalidArgumentError(
      'control frames carry at most 125 bytes and are never fragmented',
    );
  }
  const generateMask = options.mask;
  if (generateMask) {
    const hlen = headerLength(length, true);
    // Place the header so that the payload lands at the source's alignment modulo 4: applyMask
    // then works a word at a time.
    const pad = (payload.byteOffset - hlen) & 3;
    const frame = Buffer.allocUnsafe(pad + hlen + length).subarray(pad);
    let offset = writeHeader(frame, 0, opcode, length, fin, rsv1, true);
    generateMask(maskKey);
    frame[offset++] = maskKey[0]!;
    frame[offset++] = maskKey[1]!;
    frame[offset++] = maskKey[2]!;
    frame[offset++] = maskKey[3]!;
    applyMask(payload, 0, length, maskKey, 0, frame, offset);
    return [frame];
  }
  const hlen = headerLength(length, false);
  if (length <= MERGE_LIMIT) {
    const frame = Buffer.allocUnsafe(hlen + length);
    writeHeader(frame, 0, opcode, length, fin, rsv1, false);
    frame.set(payload, hlen);
    return [frame];
  }
  const header = Buffer.allocUnsafe(hlen);
  writeHeader(header, 0, opcode, length, fin, rsv1, false);
  return [header, payload];
}

/**
 * Frames a text payload given as a string, encoding it straight behind the header: one
 * allocation and one pass, with no intermediate byte array. Returns the chunks to write.
 */
export function encodeTextFrame(text: string, options: FrameOptions = {}): Uint8Array[] {
  const fin = options.fin ?? true;
  const rsv1 = options.rsv1 ?? false;
  const length = Buffer.byteLength(text, 'utf8');
  const masked = Boolean(options.mask);
  const hlen = headerLength(length, masked);
  const frame = Buffer.allocUnsafe(hlen + length);
  const offset = writeHeader(frame, 0, 0x1, length, fin, rsv1, masked);
  if (!options.mask) {
    frame.write(text, offset, length, 'utf8');
    return [frame];
  }
  options.mask(maskKey);
  frame.set(maskKey, offset);
  const start = offset + 4;
  frame.write(text, start, length, 'utf8');
  applyMask(frame, start, start + length, maskKey, 0, frame, start);
  return [frame];
}
