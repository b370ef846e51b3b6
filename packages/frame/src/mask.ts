import { randomFillSync } from 'node:crypto';

/** Fills the 4-byte `mask` with a fresh masking key. */
export type MaskGenerator = (mask: Uint8Array) => void;

/**
 * Writes `source` XOR the 4-byte `mask` into `output` from `offset`, `length` bytes: the
 * signature of the `bufferutil` package's `mask()`, so that a Node client can plug that native
 * implementation in (`FrameOptions.maskPayload`). `source` and the target range may be the same.
 */
export type MaskFunction = (
  source: Uint8Array,
  mask: Uint8Array,
  output: Uint8Array,
  offset: number,
  length: number,
) => void;

// Masking keys come from a pool refilled by the CSPRNG: RFC 6455 §5.3 requires the key to be
// "derived from a strong source of entropy", and one randomFillSync call per 2,048 frames keeps
// that off the hot path.
const POOL_SIZE = 8 * 1024;
let pool: Uint8Array | undefined;
let poolOffset = POOL_SIZE;

/** The default {@link MaskGenerator}: cryptographically strong keys from a pooled CSPRNG. */
export const randomMask: MaskGenerator = (mask) => {
  if (poolOffset === POOL_SIZE) {
    pool ??= new Uint8Array(POOL_SIZE);
    randomFillSync(pool);
    poolOffset = 0;
  }
  const p = pool!;
  mask[0] = p[poolOffset]!;
  mask[1] = p[poolOffset + 1]!;
  mask[2] = p[poolOffset + 2]!;
  mask[3] = p[poolOffset + 3]!;
  poolOffset += 4;
};

const word = new Uint32Array(1);
const wordBytes = new Uint8Array(word.buffer);

/**
 * XORs `source[start, end)` with the masking key into `target` at `targetStart` (which may be
 * `source` itself, for in-place unmasking). `phase` is the position in the key of the first byte
 * (a payload masked in several pieces continues where the last piece stopped, §5.3: octet i uses
 * key octet i MOD 4).
 *
 * The aligned middle is processed four bytes at a time through a Uint32Array view, which is why
 * this runs several times faster than a byte loop without native code.
 */
export function applyMask(
  source: Uint8Array,
  start: number,
  end: number,
  mask: Uint8Array,
  phase: number,
  target: Uint8Array,
  targetStart: number,
): void {
  let i = start;
  let j = targetStart;
  let m = phase & 3;
  const length = end - start;
  if (length >= 32 && (source.byteOffset + i - (target.byteOffset + j)) % 4 !== 0) {
    // Source and target can never be word-aligned together: copy first (memcpy speed), then
    // unmask the copy in place, where they are.
    target.set(source.subarray(start, end), targetStart);
    applyMask(target, targetStart, targetStart + length, mask, phase, target, targetStart);
    return;
  }
  if (length >= 32) {
    // Byte by byte until the target is 4-byte aligned; then both are.
    while ((target.byteOffset + j) % 4 !== 0) {
      target[j++] = source[i++]! ^ mask[m]!;
      m = (m + 1) & 3;
    }
    const words = (end - i) >>> 2;
    wordBytes[0] = mask[m]!;
    wordBytes[1] = mask[(m + 1) & 3]!;
    wordBytes[2] = mask[(m + 2) & 3]!;
    wordBytes[3] = mask[(m + 3) & 3]!;
    const key = word[0]!;
    const src = new Uint32Array(source.buffer, source.byteOffset + i, words);
    const dst =
      source === target && i === j
        ? src
        : new Uint32Array(target.buffer, target.byteOffset + j, words);
    let w = 0;
    const unrolled = words - (words % 4);
    for (; w < unrolled; w += 4) {
      dst[w] = src[w]! ^ key;
      dst[w + 1] = src[w + 1]! ^ key;
      dst[w + 2] = src[w + 2]! ^ key;
      dst[w + 3] = src[w + 3]! ^ key;
    }
    for (; w < words; w++) dst[w] = src[w]! ^ key;
    i += words * 4;
    j += words * 4;
  }
  for (; i < end; i++, j++) {
    target[j] = source[i]! ^ mask[m]!;
    m = (m + 1) & 3;
  }
}
