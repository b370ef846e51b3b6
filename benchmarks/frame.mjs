// Parse and build throughput of @gale/frame against ws's exported Receiver and Sender, in one
// process and one run: ws pure JS (WS_NO_BUFFER_UTIL) and ws with bufferutil, loaded as two
// separate module instances. Prints a table with ratio columns and writes the same figures as JSON.
//
//   pnpm --filter @gale/benchmarks bench:frame      (after pnpm build)
//
// BENCH_TIME_MS=400 lengthens each measurement, BENCH_ROUNDS=5 sets the rounds (best of them).

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, Opcode, Protocol } from '@gale/frame';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SIZES = [
  ['16 B', 16],
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
  ['1 MiB', 1024 * 1024],
];
// Network reads arrive in chunks of at most this size, as from a socket.
const READ_SIZE = 64 * 1024;

function loadWs(pure) {
  for (const key of Object.keys(require.cache))
    if (key.includes(`${'/'}ws${'/'}`)) delete require.cache[key];
  if (pure) process.env.WS_NO_BUFFER_UTIL = '1';
  else delete process.env.WS_NO_BUFFER_UTIL;
  const ws = require('ws');
  return {
    Receiver: ws.Receiver,
    Sender: ws.Sender,
    bufferUtil: require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')),
  };
}
const wsPure = loadWs(true);
const wsNative = loadWs(false);
if (wsPure.bufferUtil.mask === wsNative.bufferUtil.mask) {
  throw new Error('expected two ws instances, one with bufferutil and one without');
}

const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);
const generateMask = (m) => m.set(MASK);

function payloadOf(size) {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7) & 0xff;
  return out;
}

// A stream of masked binary frames, cut into socket-sized reads (copied fresh for every pass,
// since both parsers unmask in place).
function streamOf(size) {
  const frame = Buffer.concat(encodeFrame(Opcode.BINARY, payloadOf(size), { mask: generateMask }));
  const count = Math.max(1, Math.floor((4 * 1024 * 1024) / frame.length));
  const stream = Buffer.concat(Array.from({ length: count }, () => frame));
  const reads = [];
  for (let pos = 0; pos < stream.length; pos += READ_SIZE)
    reads.push(stream.subarray(pos, pos + READ_SIZE));
  return { reads, count, bytes: count * size };
}

function copyReads(reads) {
  return reads.map((r) => Buffer.from(r));
}

// Runs `pass` (which processes `messages` messages) repeatedly for TIME_MS and returns messages/s;
// the best of ROUNDS rounds, interleaved by the caller, is reported.
function measure(c) {
  let done = 0;
  let elapsed = 0;
  while (elapsed < TIME_MS) {
    const input = c.prepare?.();
    const start = process.hrtime.bigint();
    c.pass(input);
    elapsed += Number(process.hrtime.bigint() - start) / 1e6;
    done += c.count;
  }
  return (done / elapsed) * 1000;
}

function galeParse(size) {
  const { reads, count } = streamOf(size);
  return {
    count,
    prepare: () => copyReads(reads),
    pass(input) {
      const protocol = new Protocol({ side: 'server', maxMessageSize: Infinity });
      let received = 0;
      for (const read of input) {
        protocol.receiveData(read);
        received += protocol.eventsReceived().length;
      }
      if (received !== count) throw new Error(`gale parsed ${received} of ${count}`);
    },
  };
}

function wsParse(ws, size) {
  const { reads, count } = streamOf(size);
  return {
    count,
    prepare: () => copyReads(reads),
    pass(input) {
      const receiver = new ws.Receiver({ isServer: true, maxPayload: 0, binaryType: 'nodebuffer' });
      let received = 0;
      receiver.on('message', () => received++);
      // _write is what the socket's pipe calls; calling it directly measures parsing, not streams.
      for (const read of input) receiver._write(read, 'buffer', noop);
      if (received !== count) throw new Error(`ws parsed ${received} of ${count}`);
    },
  };
}
function noop() {}

const BUILD_BATCH = 256;

function galeBuild(size, masked) {
  const payload = payloadOf(size);
  const options = masked ? { mask: generateMask } : {};
  const batch = size >= 65536 ? 8 : BUILD_BATCH;
  return {
    count: batch,
    pass() {
      let bytes = 0;
      for (let i = 0; i < batch; i++) bytes += encodeFrame(Opcode.BINARY, payload, options).length;
      if (bytes === 0) throw new Error('unreachable');
    },
  };
}

function wsBuild(ws, size, masked) {
  const payload = payloadOf(size);
  // readOnly: the payload belongs to the caller and must not be masked in place (what ws does for
  // a Buffer the user passes to send()); gale never modifies a payload either.
  const options = { fin: true, opcode: 2, mask: masked, readOnly: true, rsv1: false, generateMask };
  const batch = size >= 65536 ? 8 : BUILD_BATCH;
  return {
    count: batch,
    pass() {
      let bytes = 0;
      for (let i = 0; i < batch; i++) bytes += ws.Sender.frame(payload, options).length;
      if (bytes === 0) throw new Error('unreachable');
    },
  };
}

function compare(label, contenders) {
  const best = Object.fromEntries(Object.keys(contenders).map((k) => [k, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, c] of Object.entries(contenders)) {
      best[name] = Math.max(best[name], measure(c));
    }
  }
  return { label, ...best };
}

const results = { parse: [], buildMasked: [], buildUnmasked: [] };
for (const [label, size] of SIZES) {
  const parse = compare(label, {
    gale: galeParse(size),
    wsPure: wsParse(wsPure, size),
    wsBufferutil: wsParse(wsNative, size),
  });
  results.parse.push({ size, ...parse });
  for (const masked of [true, false]) {
    const build = compare(label, {
      gale: galeBuild(size, masked),
      wsPure: wsBuild(wsPure, size, masked),
      wsBufferutil: wsBuild(wsNative, size, masked),
    });
    (masked ? results.buildMasked : results.buildUnmasked).push({ size, ...build });
  }
}

function fmt(n) {
  return n >= 1e6
    ? `${(n / 1e6).toFixed(2)}M`
    : n >= 1e3
      ? `${(n / 1e3).toFixed(1)}k`
      : n.toFixed(0);
}
function table(title, rows) {
  const lines = [
    `\n${title} (messages/s, best of ${ROUNDS} × ${TIME_MS} ms)`,
    '| size | gale | ws (pure JS) | ws + bufferutil | gale ÷ ws pure | gale ÷ ws bufferutil |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    r.ratioPure = r.gale / r.wsPure;
    r.ratioBufferutil = r.gale / r.wsBufferutil;
    lines.push(
      `| ${r.label} | ${fmt(r.gale)} | ${fmt(r.wsPure)} | ${fmt(r.wsBufferutil)} | ${r.ratioPure.toFixed(2)}× | ${r.ratioBufferutil.toFixed(2)}× |`,
    );
  }
  return lines.join('\n');
}
const report = [
  `@gale/frame vs ws ${require(join(dirname(require.resolve('ws')), 'package.json')).version} on Node ${process.version}`,
  table('Parse: masked binary frames, read in 64 KiB chunks', results.parse),
  table('Build: masked frames (as clients send)', results.buildMasked),
  table('Build: unmasked frames (as servers send)', results.buildUnmasked),
].join('\n');
console.log(report);

const outDir = join(here, 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'frame.json'),
  `${JSON.stringify({ node: process.version, ws: require(join(dirname(require.resolve('ws')), 'package.json')).version, timeMs: TIME_MS, rounds: ROUNDS, ...results }, null, 2)}\n`,
);
console.log(`\nJSON: ${join('bench-results', 'frame.json')}`);
