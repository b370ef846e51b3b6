// Parse and build throughput of @gale/frame against ws's exported Receiver and Sender, in one
// process and one run: ws pure JS (WS_NO_BUFFER_UTIL) and ws with bufferutil, loaded as two
// separate module instances. Prints a table with ratio columns and writes the same figures as JSON.
//
//   pnpm --filter @gale/benchmarks bench:frame      (after pnpm build)
//
// BENCH_TIME_MS=400 lengthens each measurement, BENCH_ROUNDS=5 sets the rounds (best of them).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encodeFrame, Opcode, Protocol } from '@gale/frame';
import { numberFromEnv } from './lib/env.mjs';
import {
  formatNumber,
  formatRatio,
  markdownTable,
  writeResults,
  wsVersion,
} from './lib/report.mjs';

const require = createRequire(import.meta.url);
const TIME_MS = numberFromEnv('BENCH_TIME_MS', 400);
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 5);
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

function table(title, rows) {
  const header = [
    'size',
    'gale',
    'ws (pure JS)',
    'ws + bufferutil',
    'gale ÷ ws pure',
    'gale ÷ ws bufferutil',
  ];
  const lines = rows.map((r) => {
    r.ratioPure = r.gale / r.wsPure;
    r.ratioBufferutil = r.gale / r.wsBufferutil;
    return [
      r.label,
      formatNumber(r.gale),
      formatNumber(r.wsPure),
      formatNumber(r.wsBufferutil),
      formatRatio(r.ratioPure),
      formatRatio(r.ratioBufferutil),
    ];
  });
  return `\n${title} (messages/s, best of ${ROUNDS} × ${TIME_MS} ms)\n${markdownTable(header, lines)}`;
}
console.log(
  [
    `@gale/frame vs ws ${wsVersion} on Node ${process.version}`,
    table('Parse: masked binary frames, read in 64 KiB chunks', results.parse),
    table('Build: masked frames (as clients send)', results.buildMasked),
    table('Build: unmasked frames (as servers send)', results.buildUnmasked),
  ].join('\n'),
);

writeResults('frame', {
  node: process.version,
  ws: wsVersion,
  timeMs: TIME_MS,
  rounds: ROUNDS,
  ...results,
});
