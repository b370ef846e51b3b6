// Client benchmark: the @gale/client Node build against the `ws` client, both talking to one `ws`
// echo server (the server package's bench/peers/ws-echo.mjs, shared by both benchmarks) that runs in a child process, so that the clients and the
// server never share an event loop.
//
//   pnpm --filter @gale/client bench          (after pnpm build: it imports ../dist)
//
// Each measurement is echo round trips over N connections with one message in flight on each:
// connect, warm up, then count the round trips completed in a fixed window (steady state only;
// connecting and closing are not timed). Every round runs in a fresh Node process. Three clients: gale with readMessage/writeMessage
// (Tornado's style, a promise per message each way), gale with onMessage/send (callbacks, like
// the ws loop), and ws. Their rounds alternate in order so that drift on a shared machine hits
// all alike; the table shows medians of the rounds. Prints a markdown table and writes
// bench-results/client.json. Environment:
//
//   BENCH_TIME_MS=2000     the timed window of each round
//   BENCH_WARMUP_MS=300    echo traffic before each window, not counted
//   BENCH_ROUNDS=5         rounds per client and measurement
//   BENCH_CONNECTIONS=1,50
//   BENCH_PAYLOADS=binary:32,text:1024,binary:65536

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startPeer } from '@gale/test-utils';
import { WebSocket } from 'ws';
import { websocketConnect } from '../dist/index.node.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const env = process.env;

const TIME_MS = Number(env.BENCH_TIME_MS ?? 2000);
const WARMUP_MS = Number(env.BENCH_WARMUP_MS ?? 300);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = (env.BENCH_CONNECTIONS ?? '1,50')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map(Number);
const PAYLOADS = (env.BENCH_PAYLOADS ?? 'binary:32,text:1024,binary:65536')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map((spec) => {
    const [kind, size] = spec.split(':');
    if ((kind !== 'binary' && kind !== 'text') || !(Number(size) > 0)) {
      throw new Error(`BENCH_PAYLOADS: expected binary:<bytes> or text:<bytes>, got ${spec}`);
    }
    return { text: kind === 'text', size: Number(size) };
  });

// ─── The server, in a child process ──────────────────────────────────────────────────────────

/** Spawns the ws echo peer (@gale/server's), which prints `LISTENING <port>`. */
function startServer() {
  return startPeer(
    process.execPath,
    [join(here, '..', '..', 'server', 'bench', 'peers', 'ws-echo.mjs'), '0'],
    { cwd: packageDir, env: { WS_ECHO_DEFLATE: '0' } },
  );
}

// ─── The clients ─────────────────────────────────────────────────────────────────────────────
// Each client exposes the same three steps: open N connections, run the echo loops for a while,
// close. A loop keeps one message in flight per connection and checks every reply's length.

/**
 * @typedef {object} Session
 * @property {(ms: number) => Promise<number>} run  round trips completed within `ms`
 * @property {() => Promise<void>} close
 */

/**
 * @param {string} url
 * @param {number} connections
 * @param {string | Uint8Array} payload
 * @returns {Promise<Session>}
 */
async function galeSession(url, connections, payload) {
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => websocketConnect(url)),
  );
  const length = typeof payload === 'string' ? payload.length : payload.byteLength;
  return {
    async run(ms) {
      let running = true;
      let count = 0;
      const loops = sockets.map(async (socket) => {
        while (running) {
          void socket.writeMessage(payload);
          const reply = await socket.readMessage();
          if (reply === null) throw new Error('gale: the connection closed during the benchmark');
          if ((typeof reply === 'string' ? reply.length : reply.byteLength) !== length) {
            throw new Error('gale: an echo came back with the wrong length');
          }
          count++;
        }
      });
      await sleep(ms);
      running = false;
      const counted = count;
      await Promise.all(loops);
      return counted;
    },
    async close() {
      await Promise.all(sockets.map((socket) => socket.close()));
    },
  };
}

/**
 * The same echo loop with gale's callback API (onMessage + send, no promise per message): the
 * closest match to the ws loop below, which uses ws's 'message' event and send().
 *
 * @param {string} url
 * @param {number} connections
 * @param {string | Uint8Array} payload
 * @returns {Promise<Session>}
 */
async function galeCallbackSession(url, connections, payload) {
  const length = typeof payload === 'string' ? payload.length : payload.byteLength;
  let running = false;
  let count = 0;
  /** @type {Array<() => void>} */
  let stopped = [];
  /** @type {Error | null} */
  let failure = null;
  const sockets = await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      websocketConnect(url, {
        onMessage(reply) {
          if ((typeof reply === 'string' ? reply.length : reply.byteLength) !== length) {
            failure = new Error('gale: an echo came back with the wrong length');
          }
          count++;
          if (running) sockets[i]?.send(payload);
          else stopped.pop()?.();
        },
      }),
    ),
  );
  return {
    async run(ms) {
      running = true;
      count = 0;
      const done = sockets.map(
        () => new Promise((resolve) => stopped.push(() => resolve(undefined))),
      );
      for (const socket of sockets) socket.send(payload);
      await sleep(ms);
      running = false;
      const counted = count;
      await Promise.all(done);
      stopped = [];
      if (failure) throw failure;
      return counted;
    },
    async close() {
      await Promise.all(sockets.map((socket) => socket.close()));
    },
  };
}

/**
 * @param {string} url
 * @param {number} connections
 * @param {string | Uint8Array} payload
 * @returns {Promise<Session>}
 */
async function wsSession(url, connections, payload) {
  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        /** @type {Promise<WebSocket>} */ (
          new Promise((resolve, reject) => {
            const ws = new WebSocket(url, { perMessageDeflate: false });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          })
        ),
    ),
  );
  const binary = typeof payload !== 'string';
  const length = binary ? payload.byteLength : payload.length;
  return {
    async run(ms) {
      let running = true;
      let count = 0;
      const loops = sockets.map(
        (ws) =>
          /** @type {Promise<void>} */ (
            new Promise((resolve, reject) => {
              /** @param {Buffer} data @param {boolean} isBinary */
              const onMessage = (data, isBinary) => {
                const size = isBinary ? data.length : data.toString().length;
                if (size !== length) {
                  reject(new Error('ws: an echo came back with the wrong length'));
                  return;
                }
                count++;
                if (running) ws.send(payload, { binary });
                else {
                  ws.off('message', onMessage);
                  resolve();
                }
              };
              ws.on('message', onMessage);
              ws.once('close', () => reject(new Error('ws: the connection closed')));
              ws.send(payload, { binary });
            })
          ),
      );
      await sleep(ms);
      running = false;
      const counted = count;
      await Promise.all(loops);
      return counted;
    },
    async close() {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise((resolve) => {
              ws.removeAllListeners('close');
              ws.once('close', resolve);
              ws.close();
            }),
        ),
      );
    },
  };
}

const clients = [
  { name: 'gale', open: galeSession },
  { name: 'galeCallback', open: galeCallbackSession },
  { name: 'ws', open: wsSession },
];

// ─── Measuring ───────────────────────────────────────────────────────────────────────────────

/** @param {number} bytes */
function sizeLabel(bytes) {
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

// Linux reports /proc/<pid>/stat CPU times in clock ticks of 1/100 s (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS_PER_SEC = 100;

/**
 * The CPU time a process has used, in microseconds, or NaN where /proc is missing.
 *
 * @param {number} pid
 */
function processCpuMicros(pid) {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return Number.NaN;
  // The fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC) * 1e6;
}

/**
 * One timed round: connect, warm up, count round trips, close. Also the CPU time per round trip
 * of the client process and of the server over the timed window: on a 2-core machine the two
 * share the CPU, so a client that costs the server more per round trip shows up here.
 *
 * @param {(typeof clients)[number]} client
 * @param {string} url
 * @param {number} connections
 * @param {string | Uint8Array} payload
 * @param {number} serverPid
 */
async function measure(client, url, connections, payload, serverPid) {
  const session = await client.open(url, connections, payload);
  try {
    if (WARMUP_MS > 0) await session.run(WARMUP_MS);
    const cpuBefore = process.cpuUsage();
    const serverCpuBefore = processCpuMicros(serverPid);
    const started = process.hrtime.bigint();
    const roundTrips = await session.run(TIME_MS);
    const elapsedNs = Number(process.hrtime.bigint() - started);
    const cpu = process.cpuUsage(cpuBefore);
    const serverCpu = processCpuMicros(serverPid) - serverCpuBefore;
    return {
      roundTripsPerSec: roundTrips / (elapsedNs / 1e9),
      clientCpuMicrosPerRoundTrip: (cpu.user + cpu.system) / Math.max(roundTrips, 1),
      serverCpuMicrosPerRoundTrip: serverCpu / Math.max(roundTrips, 1),
    };
  } finally {
    await session.close();
  }
}

/**
 * One round in a fresh Node process (this file, with BENCH_ROUND set): the clients never share a
 * heap, so one client's garbage and heap growth cannot slow the next one's round down (64 KiB
 * messages at 50 connections allocate over 1 GB/s).
 *
 * @param {{ client: string, url: string, connections: number, text: boolean, size: number,
 *   serverPid: number }} spec
 * @returns {Promise<Awaited<ReturnType<typeof measure>>>}
 */
async function measureInChild(spec) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...env, BENCH_ROUND: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
  });
  const [code, signal] = await once(child, 'close');
  if (code !== 0) throw new Error(`a ${spec.client} round exited with ${code ?? signal}`);
  return JSON.parse(stdout);
}

if (env.BENCH_ROUND !== undefined) {
  const spec = JSON.parse(env.BENCH_ROUND);
  const client = clients.find((c) => c.name === spec.client);
  if (client === undefined) throw new Error(`BENCH_ROUND: no client ${spec.client}`);
  const payload = spec.text ? 'x'.repeat(spec.size) : new Uint8Array(spec.size).fill(0x5a);
  const result = await measure(client, spec.url, spec.connections, payload, spec.serverPid);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const server = await startServer();
const url = `ws://127.0.0.1:${server.port}/echo`;
/** @type {{ id: string, label: string, results: Record<string, any> }[]} */
const results = [];
try {
  for (const { text, size } of PAYLOADS) {
    for (const connections of CONNECTIONS) {
      const id = `echo-${text ? 'text' : 'binary'}-${size}-c${connections}`;
      const label = `${sizeLabel(size)} ${text ? 'text' : 'binary'}, ${connections} connection${connections === 1 ? '' : 's'}`;
      /** @type {Record<string, { rounds: number[], cpu: number[], serverCpu: number[] }>} */
      const samples = Object.fromEntries(
        clients.map((c) => [c.name, { rounds: [], cpu: [], serverCpu: [] }]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? clients : [...clients].reverse();
        for (const client of order) {
          process.stderr.write(`${label} — ${client.name}, round ${round + 1}/${ROUNDS} … `);
          const result = await measureInChild({
            client: client.name,
            url,
            connections,
            text,
            size,
            serverPid: server.pid,
          });
          const sample = /** @type {{ rounds: number[], cpu: number[], serverCpu: number[] }} */ (
            samples[client.name]
          );
          sample.rounds.push(result.roundTripsPerSec);
          sample.cpu.push(result.clientCpuMicrosPerRoundTrip);
          sample.serverCpu.push(result.serverCpuMicrosPerRoundTrip);
          process.stderr.write(`${result.roundTripsPerSec.toFixed(0)} round trips/s\n`);
        }
      }
      /** @type {Record<string, any>} */
      const row = {};
      for (const { name } of clients) {
        const sample = /** @type {{ rounds: number[], cpu: number[], serverCpu: number[] }} */ (
          samples[name]
        );
        row[name] = {
          medianRoundTripsPerSec: median(sample.rounds),
          bestRoundTripsPerSec: Math.max(...sample.rounds),
          medianClientCpuMicrosPerRoundTrip: median(sample.cpu),
          medianServerCpuMicrosPerRoundTrip: median(sample.serverCpu),
          rounds: sample.rounds,
        };
      }
      results.push({ id, label, results: row });
    }
  }
} finally {
  await server.stop();
}

// ─── Report ──────────────────────────────────────────────────────────────────────────────────

/** @param {number} n */
function fmt(n) {
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 100) return n.toFixed(0);
  return n.toFixed(1);
}

/** @param {number} a @param {number} b */
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');

const lines = [
  '| echo | ws round trips/s | gale readMessage/writeMessage | ÷ ws | gale onMessage/send | ÷ ws | client CPU µs per round trip, gale / gale callback / ws | server CPU µs per round trip, gale / gale callback / ws |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
];
for (const { label, results: row } of results) {
  const { gale, galeCallback, ws } = row;
  lines.push(
    `| ${label} | ${fmt(ws.medianRoundTripsPerSec)} | ${fmt(gale.medianRoundTripsPerSec)} | ` +
      `${ratio(gale.medianRoundTripsPerSec, ws.medianRoundTripsPerSec)} | ` +
      `${fmt(galeCallback.medianRoundTripsPerSec)} | ` +
      `${ratio(galeCallback.medianRoundTripsPerSec, ws.medianRoundTripsPerSec)} | ` +
      `${gale.medianClientCpuMicrosPerRoundTrip.toFixed(1)} / ` +
      `${galeCallback.medianClientCpuMicrosPerRoundTrip.toFixed(1)} / ` +
      `${ws.medianClientCpuMicrosPerRoundTrip.toFixed(1)} | ` +
      `${gale.medianServerCpuMicrosPerRoundTrip.toFixed(1)} / ` +
      `${galeCallback.medianServerCpuMicrosPerRoundTrip.toFixed(1)} / ` +
      `${ws.medianServerCpuMicrosPerRoundTrip.toFixed(1)} |`,
  );
}

const wsVersion = JSON.parse(
  readFileSync(join(packageDir, 'node_modules', 'ws', 'package.json'), 'utf8'),
).version;
// ws masks with bufferutil when it can load it (a devDependency here).
let bufferutil = false;
try {
  createRequire(join(packageDir, 'node_modules', 'ws', 'index.js')).resolve('bufferutil');
  bufferutil = env.WS_NO_BUFFER_UTIL !== '1';
} catch {
  bufferutil = false;
}
const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `\n@gale/client vs the ws ${wsVersion} client${bufferutil ? ' (with bufferutil)' : ''} on Node ` +
    `${process.version}, ${cpus().length} × ${cpuModel}; ws echo server in a child process; ` +
    `${ROUNDS} rounds × ${TIME_MS} ms per client and row, one message in flight per connection\n`,
);
console.log(lines.join('\n'));

const outDir = join(packageDir, 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'client.json'),
  `${JSON.stringify(
    {
      node: process.version,
      ws: wsVersion,
      bufferutil,
      cpus: cpus().length,
      cpuModel,
      config: {
        timeMs: TIME_MS,
        warmupMs: WARMUP_MS,
        rounds: ROUNDS,
        connections: CONNECTIONS,
        payloads: PAYLOADS,
      },
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nJSON: ${join('bench-results', 'client.json')}`);
