// How long one synchronous permessage-deflate call blocks the event loop, by message size.
//
// PerMessageDeflate (packages/frame/src/permessage-deflate.ts) compresses and decompresses with
// one-shot sync zlib calls, carrying context takeover as a preset dictionary. This script makes
// exactly those calls on node:zlib, so that it runs without a build:
//
//   encode: deflateRawSync(fragment, { level, memLevel: 8, windowBits: 15, strategy: default,
//                                      dictionary: last 32 KiB, finishFlush: Z_SYNC_FLUSH })
//   decode: inflateRawSync(payload + 00 00 ff ff, { windowBits: 15, dictionary: last 32 KiB,
//                                                   finishFlush: Z_SYNC_FLUSH, maxOutputLength })
//
// Prints, per size, the median time of one call and the throughput, then the largest fragment
// that keeps one encode under the stall budget.
//
//   pnpm --filter @gale/benchmarks bench:deflate-stall
//
// STALL_BUDGET_MS=5 sets the stall budget; STALL_MAX_SIZE=16777216 (bytes) leaves out the sizes
// above it, for a quick run. The fragment sizes come from the 1 MiB row, or from the largest
// size measured when that is smaller.

import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { numberFromEnv } from './lib/env.mjs';

const BUDGET_MS = numberFromEnv('STALL_BUDGET_MS', 5);
const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_SIZE = numberFromEnv('STALL_MAX_SIZE', 16 * MiB);
const SIZES = /** @type {[string, number][]} */ ([
  ['1 KiB', KiB],
  ['16 KiB', 16 * KiB],
  ['64 KiB', 64 * KiB],
  ['256 KiB', 256 * KiB],
  ['1 MiB', MiB],
  ['4 MiB', 4 * MiB],
  ['16 MiB', 16 * MiB],
]).filter(([, size]) => size <= MAX_SIZE);
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// Deterministic text that compresses like chat or JSON traffic (roughly 3–4:1 at level 6).
function textLike(size, seed = 1) {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const words = Array.from({ length: 2000 }, () =>
    Array.from({ length: 2 + Math.floor(next() * 9) }, () =>
      String.fromCharCode(97 + Math.floor(next() * 26)),
    ).join(''),
  );
  const parts = [];
  let length = 0;
  while (length < size) {
    const text = Array.from({ length: 4 + Math.floor(next() * 12) }, () => {
      return words[Math.floor(next() * words.length)];
    }).join(' ');
    const record = `{"id":${Math.floor(next() * 1e6)},"user":"${words[Math.floor(next() * 50)]}","text":"${text}"}\n`;
    parts.push(record);
    length += record.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

function encodeOptions(level, dictionary) {
  return {
    level,
    memLevel: 8,
    windowBits: 15,
    strategy: constants.Z_DEFAULT_STRATEGY,
    finishFlush: constants.Z_SYNC_FLUSH,
    ...(dictionary ? { dictionary } : {}),
  };
}

// Median of several timed runs, with enough runs for small inputs to be measurable.
function median(fn, size) {
  const runs = Math.max(5, Math.min(200, Math.floor((8 * MiB) / size)));
  // Warm up: the first calls of a kind are several times slower.
  for (let i = 0; i < Math.min(runs, 20); i++) fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const history = textLike(32 * KiB, 99);
const rows = [];
for (const level of [constants.Z_DEFAULT_COMPRESSION, 1]) {
  for (const [label, size] of SIZES) {
    const data = textLike(size);
    const compressed = deflateRawSync(data, encodeOptions(level, history));
    const payload = compressed.subarray(0, -4);
    const encodeMs = median(() => deflateRawSync(data, encodeOptions(level, history)), size);
    const encodeNoDictMs = median(() => deflateRawSync(data, encodeOptions(level)), size);
    const decodeMs = median(
      () =>
        inflateRawSync(Buffer.concat([payload, TRAILER]), {
          windowBits: 15,
          dictionary: history,
          finishFlush: constants.Z_SYNC_FLUSH,
          maxOutputLength: size + 1,
        }),
      size,
    );
    rows.push({
      level: level === constants.Z_DEFAULT_COMPRESSION ? 'default (6)' : String(level),
      size: label,
      ratio: (size / payload.length).toFixed(2),
      'encode ms': encodeMs.toFixed(3),
      'encode ms, no dictionary': encodeNoDictMs.toFixed(3),
      'encode MiB/s': (size / MiB / (encodeMs / 1000)).toFixed(0),
      'decode ms': decodeMs.toFixed(3),
      'decode MiB/s': (size / MiB / (decodeMs / 1000)).toFixed(0),
    });
  }
}

console.log(`node ${process.version}, zlib ${process.versions.zlib}`);
console.table(rows);

// The fixed cost of context takeover: zlib hashes the whole dictionary on every call, which
// dominates for small messages. A smaller window (server_max_window_bits) shrinks it.
const small = textLike(KiB, 7);
const dictionaryRows = [];
for (let windowBits = 9; windowBits <= 15; windowBits++) {
  const dictionary = history.subarray(history.length - 2 ** windowBits);
  const options = { ...encodeOptions(constants.Z_DEFAULT_COMPRESSION, dictionary), windowBits };
  dictionaryRows.push({
    windowBits,
    'dictionary bytes': dictionary.length,
    '1 KiB encode ms': median(() => deflateRawSync(small, options), KiB).toFixed(3),
  });
}
console.table(dictionaryRows);

// The largest fragment whose encode stays under the budget, from the 1 MiB throughput (or the
// largest size's, below STALL_MAX_SIZE), rounded down to a power of two so that it can be used as
// a fragment size.
for (const level of ['default (6)', '1']) {
  const byLevel = rows.filter((r) => r.level === level);
  const row = byLevel.find((r) => r.size === '1 MiB') ?? byLevel.at(-1);
  if (row === undefined) break;
  const bytes = SIZES.find(([label]) => label === row.size)?.[1] ?? MiB;
  const bytesPerMs = bytes / Number(row['encode ms']);
  const fragment = 2 ** Math.floor(Math.log2(bytesPerMs * BUDGET_MS));
  console.log(
    `level ${level}: ~${(bytesPerMs / KiB).toFixed(0)} KiB per ms; fragments of ${fragment / KiB} KiB keep one encode under ${BUDGET_MS} ms`,
  );
}
