// Client benchmark: the @gale/client Node build against the `ws` client, both talking to one `ws`
// echo server (benchmarks/peers/ws-echo.mjs, shared with the server benchmark) that runs
// in a child process, so that the clients and the server never share an event loop.
//
//   pnpm --filter @gale/benchmarks bench:client      (after pnpm build: it runs the built client)
//
// Each measurement is echo round trips over N connections with one message in flight on each,
// counted in short slices of steady state (connecting and closing are not timed). Four clients:
// gale with readMessage/writeMessage (Tornado's style, a promise per message each way), gale with
// onMessage/send (callbacks, like the ws loop), ws with its 'message' event, and ws with a promise
// per message read (the loop a Tornado-style user of ws writes), each in its own Node process,
// connected side by side and taking turns: a round gives each client one slice, in an order that
// alternates from round to round. A ratio is the median over the rounds of gale's rate ÷ a ws
// client's rate in the same round (a paired comparison: when the shared machine slows down for a
// while, it slows both sides of a pair), with the number of rounds gale was ahead: readMessage
// against both ws loops, onMessage against the event loop. Rates and CPU times are medians of
// the rounds. Prints a markdown table and writes bench-results/client.json. Environment:
//
//   BENCH_ROUNDS=20           rounds per row
//   BENCH_TIME_MS=500         the timed slice of each client in a round
//   BENCH_SLICE_WARMUP_MS=50  echo traffic before each slice, not counted
//   BENCH_WARMUP_MS=500       echo traffic once a client has connected, not counted
//   BENCH_PIN=0               do not pin the server to CPU 0 and the clients to CPU 1
//   BENCH_CONNECTIONS=1,50
//   BENCH_PAYLOADS=binary:32,text:1024,binary:65536

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { websocketConnect } from '@gale/client';
import { WebSocket } from 'ws';
import { listFromEnv, numberFromEnv, numbersFromEnv } from './lib/env.mjs';
import { startNodePeer } from './lib/peers.mjs';
import { canPin, cpuSeconds, pinned } from './lib/processes.mjs';
import {
  formatNumber,
  formatRatio,
  machine,
  markdownTable,
  sizeLabel,
  writeResults,
  wsVersion,
} from './lib/report.mjs';
import { median } from './lib/stats.mjs';

const env = process.env;

const TIME_MS = numberFromEnv('BENCH_TIME_MS', 500);
const WARMUP_MS = numberFromEnv('BENCH_WARMUP_MS', 500);
const SLICE_WARMUP_MS = numberFromEnv('BENCH_SLICE_WARMUP_MS', 50);
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 20);
const CONNECTIONS = numbersFromEnv('BENCH_CONNECTIONS', '1,50');
const PAYLOADS = listFromEnv('BENCH_PAYLOADS', 'binary:32,text:1024,binary:65536').map((spec) => {
  const [kind, size] = spec.split(':');
  if ((kind !== 'binary' && kind !== 'text') || !(Number(size) > 0)) {
    throw new Error(`BENCH_PAYLOADS: expected binary:<bytes> or text:<bytes>, got ${spec}`);
  }
  return { text: kind === 'text', size: Number(size) };
});

// ─── The server, in a child process ──────────────────────────────────────────────────────────

// With two cores or more and taskset(1) at hand, the server runs on CPU 0 and the clients on
// CPU 1: nothing migrates, and every slice sees the same placement. BENCH_PIN=0 leaves placement
// to the scheduler.
const PIN = env.BENCH_CLIENT === undefined && env.BENCH_PIN !== '0' && canPin();
const SERVER_CPU = PIN ? 0 : undefined;
const CLIENT_CPU = PIN ? 1 : undefined;

/** Spawns the ws echo peer (peers/ws-echo.mjs), which prints `LISTENING <port>`. */
function startServer() {
  return startNodePeer('ws-echo.mjs', { env: { WS_ECHO_DEFLATE: '0' }, cpu: SERVER_CPU });
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
 * Runs one echo loop per connection for `ms`: each of `roundTrips` sends on its connection and
 * returns the promise of the reply, which must be `length` long. Resolves with the round trips
 * counted.
 *
 * @param {number} ms
 * @param {string} name
 * @param {Array<() => Promise<Uint8Array | string | null>>} roundTrips
 * @param {number} length
 */
async function promiseLoops(ms, name, roundTrips, length) {
  let running = true;
  let count = 0;
  const loops = roundTrips.map(async (roundTrip) => {
    while (running) {
      const reply = await roundTrip();
      if (reply === null) throw new Error(`${name}: the connection closed during the benchmark`);
      if ((typeof reply === 'string' ? reply.length : reply.byteLength) !== length) {
        throw new Error(`${name}: an echo came back with the wrong length`);
      }
      count++;
    }
  });
  await sleep(ms);
  running = false;
  const counted = count;
  await Promise.all(loops);
  return counted;
}

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
    run: (ms) =>
      promiseLoops(
        ms,
        'gale',
        sockets.map((socket) => () => {
          void socket.writeMessage(payload);
          return socket.readMessage();
        }),
        length,
      ),
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
  const sockets = await wsSockets(url, connections);
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
              const onClose = () => reject(new Error('ws: the connection closed'));
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
                  ws.off('close', onClose);
                  resolve();
                }
              };
              ws.on('message', onMessage);
              ws.once('close', onClose);
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
    close: () => closeWsSockets(sockets),
  };
}

/**
 * Opens `connections` ws clients (no compression, as the gale clients offer none).
 *
 * @param {string} url
 * @param {number} connections
 * @returns {Promise<WebSocket[]>}
 */
function wsSockets(url, connections) {
  return Promise.all(
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
}

/** @param {WebSocket[]} sockets */
async function closeWsSockets(sockets) {
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
}

/**
 * The ws client used the way gale's readMessage is: a promise per message read (the messages
 * queued by the 'message' event, the readers waiting for them), the loop a Tornado-style user of
 * ws would write. It pairs with gale's readMessage loop, like for like: at 64 KiB × 50 connections
 * a promise that waits for a round trip often outlives a young-generation GC while it holds a
 * message, and V8 then promotes both, in ws as in gale.
 *
 * @param {string} url
 * @param {number} connections
 * @param {string | Uint8Array} payload
 * @returns {Promise<Session>}
 */
async function wsPromiseSession(url, connections, payload) {
  const session = await wsSockets(url, connections);
  const binary = typeof payload !== 'string';
  const length = binary ? payload.byteLength : payload.length;
  const roundTrips = session.map((ws) => {
    /** @type {Array<Buffer | string>} */
    const messages = [];
    /** @type {Array<(message: Buffer | string | null) => void>} */
    const waiting = [];
    ws.on('message', (/** @type {Buffer} */ data, /** @type {boolean} */ isBinary) => {
      const message = isBinary ? data : data.toString();
      const reader = waiting.shift();
      if (reader) reader(message);
      else messages.push(message);
    });
    ws.on('close', () => {
      for (const reader of waiting.splice(0)) reader(null);
    });
    /** @returns {Promise<Buffer | string | null>} */
    return () => {
      ws.send(payload, { binary });
      const message = messages.shift();
      if (message !== undefined) return Promise.resolve(message);
      if (ws.readyState !== WebSocket.OPEN) return Promise.resolve(null);
      return new Promise((resolve) => waiting.push(resolve));
    };
  });
  return {
    run: (ms) => promiseLoops(ms, 'ws', roundTrips, length),
    close: () => closeWsSockets(session),
  };
}

const clients = [
  { name: 'gale', open: galeSession },
  { name: 'galeCallback', open: galeCallbackSession },
  { name: 'ws', open: wsSession },
  { name: 'wsPromise', open: wsPromiseSession },
];

// ─── One client, in its own process ──────────────────────────────────────────────────────────
// A client process (this file, with BENCH_CLIENT set) connects, warms up, prints READY, then
// answers each `run` line on stdin with one measured slice as a JSON line, until `close`. Each
// client has its own process, so that the clients never share a heap: one client's garbage and
// heap growth cannot slow another one down (64 KiB messages at 50 connections allocate over 1 GB/s).

if (env.BENCH_CLIENT !== undefined) {
  const spec = JSON.parse(env.BENCH_CLIENT);
  const client = clients.find((c) => c.name === spec.client);
  if (client === undefined) throw new Error(`BENCH_CLIENT: no client ${spec.client}`);
  const payload = spec.text ? 'x'.repeat(spec.size) : new Uint8Array(spec.size).fill(0x5a);
  const session = await client.open(spec.url, spec.connections, payload);
  if (WARMUP_MS > 0) await session.run(WARMUP_MS);
  process.stdout.write('READY\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'close') break;
    // A short run first, not counted: the connections were idle while the other clients ran.
    await session.run(SLICE_WARMUP_MS);
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const roundTrips = await session.run(TIME_MS);
    const elapsedNs = Number(process.hrtime.bigint() - started);
    const cpu = process.cpuUsage(cpuBefore);
    process.stdout.write(
      `${JSON.stringify({ roundTrips, elapsedNs, cpuMicros: cpu.user + cpu.system })}\n`,
    );
  }
  await session.close();
  process.exit(0);
}

/**
 * @typedef {object} ClientProcess
 * @property {() => Promise<{ roundTrips: number, elapsedNs: number, cpuMicros: number }>} slice
 * @property {() => Promise<void>} close
 */

/**
 * Starts a client process and waits until it is connected and warm.
 *
 * @param {{ client: string, url: string, connections: number, text: boolean, size: number }} spec
 * @returns {Promise<ClientProcess>}
 */
async function startClient(spec) {
  const [command, ...args] = pinned(CLIENT_CPU, [process.execPath, fileURLToPath(import.meta.url)]);
  const child = spawn(command, args, {
    env: { ...env, BENCH_CLIENT: JSON.stringify(spec) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  // Rejects when the process ends: a client that dies mid-slice fails the benchmark, not hangs it.
  const died = exited.then(([code, signal]) => {
    throw new Error(`the ${spec.client} client exited with ${code ?? signal}`);
  });
  died.catch(() => {});
  const lines = createInterface({
    input: /** @type {import('node:stream').Readable} */ (child.stdout),
  })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await Promise.race([lines.next(), died]);
    if (line.done) throw new Error(`the ${spec.client} client closed its output`);
    return line.value;
  };
  const ready = await next();
  if (ready !== 'READY') throw new Error(`the ${spec.client} client printed ${ready}`);
  const stdin = /** @type {import('node:stream').Writable} */ (child.stdin);
  return {
    async slice() {
      stdin.write('run\n');
      return JSON.parse(await next());
    },
    async close() {
      stdin.end('close\n');
      const [code, signal] = await exited;
      if (code !== 0) throw new Error(`the ${spec.client} client exited with ${code ?? signal}`);
    },
  };
}

// ─── The runs ────────────────────────────────────────────────────────────────────────────────
// Per row, the client processes are started side by side and take turns: a round gives
// each one slice, in an order that alternates from round to round, so that gale's and ws's
// slices of a round are never more than a few seconds apart. A machine that slows down for a
// while slows both sides of the pair.

const server = await startServer();
const url = `ws://127.0.0.1:${server.port}/echo`;
/** @type {{ id: string, label: string, results: Record<string, any> }[]} */
const results = [];
try {
  for (const { text, size } of PAYLOADS) {
    for (const connections of CONNECTIONS) {
      const id = `echo-${text ? 'text' : 'binary'}-${size}-c${connections}`;
      const label = `${sizeLabel(size)} ${text ? 'text' : 'binary'}, ${connections} connection${connections === 1 ? '' : 's'}`;
      process.stderr.write(`${label} … `);
      /** @type {Record<string, { rounds: number[], cpu: number[], serverCpu: number[] }>} */
      const samples = Object.fromEntries(
        clients.map((c) => [c.name, { rounds: [], cpu: [], serverCpu: [] }]),
      );
      /** @type {ClientProcess[]} */
      const started = [];
      try {
        for (const client of clients) {
          started.push(await startClient({ client: client.name, url, connections, text, size }));
        }
        for (let round = 0; round < ROUNDS; round++) {
          const order = clients.map((client, i) => ({ client, process: started[i] }));
          if (round % 2 === 1) order.reverse();
          for (const { client, process: clientProcess } of order) {
            const serverCpuBefore = cpuSeconds(server.pid);
            const result = await /** @type {ClientProcess} */ (clientProcess).slice();
            const serverCpuMicros = (cpuSeconds(server.pid) - serverCpuBefore) * 1e6;
            const sample = /** @type {{ rounds: number[], cpu: number[], serverCpu: number[] }} */ (
              samples[client.name]
            );
            const roundTrips = Math.max(result.roundTrips, 1);
            sample.rounds.push(result.roundTrips / (result.elapsedNs / 1e9));
            sample.cpu.push(result.cpuMicros / roundTrips);
            sample.serverCpu.push(serverCpuMicros / roundTrips);
          }
        }
      } finally {
        await Promise.all(started.map((clientProcess) => clientProcess.close()));
      }
      /** @type {Record<string, any>} */
      const row = {};
      /** The median of same-round ratios, and the rounds in which `rounds` was ahead. */
      const paired = (/** @type {number[]} */ rounds, /** @type {string} */ baseline) => {
        const base = /** @type {{ rounds: number[] }} */ (samples[baseline]).rounds;
        const ratios = rounds.map((rate, i) => rate / (base[i] ?? Number.NaN));
        return { median: median(ratios), ahead: ratios.filter((r) => r > 1).length };
      };
      for (const { name } of clients) {
        const sample = /** @type {{ rounds: number[], cpu: number[], serverCpu: number[] }} */ (
          samples[name]
        );
        const toWs = paired(sample.rounds, 'ws');
        const toWsPromise = paired(sample.rounds, 'wsPromise');
        row[name] = {
          medianRoundTripsPerSec: median(sample.rounds),
          medianRatioToWs: toWs.median,
          roundsAheadOfWs: toWs.ahead,
          medianRatioToWsPromise: toWsPromise.median,
          roundsAheadOfWsPromise: toWsPromise.ahead,
          medianClientCpuMicrosPerRoundTrip: median(sample.cpu),
          medianServerCpuMicrosPerRoundTrip: median(sample.serverCpu),
          rounds: sample.rounds,
        };
      }
      const { gale, galeCallback } = row;
      process.stderr.write(
        `gale ${gale.medianRatioToWsPromise.toFixed(2)}× ws promise reader, ` +
          `${gale.medianRatioToWs.toFixed(2)}× ws; callback ${galeCallback.medianRatioToWs.toFixed(2)}× ws\n`,
      );
      results.push({ id, label, results: row });
    }
  }
} finally {
  await server.stop();
}

// ─── Report ──────────────────────────────────────────────────────────────────────────────────

/** A median paired ratio, and in how many rounds gale was ahead. */
const ratio = (/** @type {number} */ median, /** @type {number} */ ahead) =>
  `${formatRatio(median)} (${ahead}/${ROUNDS})`;

const header = [
  'echo',
  'ws round trips/s (events / promise reader)',
  'gale readMessage/writeMessage',
  '÷ ws promise reader (rounds ahead)',
  '÷ ws events',
  'gale onMessage/send',
  '÷ ws events (rounds ahead)',
  'client CPU µs per round trip, gale / gale callback / ws / ws promise reader',
];
const rows = results.map(({ label, results: row }) => {
  const { gale, galeCallback, ws, wsPromise } = row;
  return [
    label,
    `${formatNumber(ws.medianRoundTripsPerSec)} / ${formatNumber(wsPromise.medianRoundTripsPerSec)}`,
    formatNumber(gale.medianRoundTripsPerSec),
    ratio(gale.medianRatioToWsPromise, gale.roundsAheadOfWsPromise),
    ratio(gale.medianRatioToWs, gale.roundsAheadOfWs),
    formatNumber(galeCallback.medianRoundTripsPerSec),
    ratio(galeCallback.medianRatioToWs, galeCallback.roundsAheadOfWs),
    [gale, galeCallback, ws, wsPromise]
      .map((r) => r.medianClientCpuMicrosPerRoundTrip.toFixed(1))
      .join(' / '),
  ];
});

// ws masks with bufferutil when it can load it (a dependency here).
let bufferutil = false;
try {
  createRequire(createRequire(import.meta.url).resolve('ws')).resolve('bufferutil');
  bufferutil = env.WS_NO_BUFFER_UTIL !== '1';
} catch {
  bufferutil = false;
}
const { cpus, cpuModel } = machine();
console.log(
  `\n@gale/client vs the ws ${wsVersion} client${bufferutil ? ' (with bufferutil)' : ''} on Node ` +
    `${process.version}, ${cpus} × ${cpuModel}; ws echo server in a child process` +
    `${PIN ? ' on CPU 0, clients on CPU 1' : ''}; ${ROUNDS} rounds × ${TIME_MS} ms per client and row, one message in flight per connection\n`,
);
console.log(markdownTable(header, rows));

writeResults('client', {
  node: process.version,
  ws: wsVersion,
  bufferutil,
  cpus,
  cpuModel,
  config: {
    timeMs: TIME_MS,
    warmupMs: WARMUP_MS,
    rounds: ROUNDS,
    pinned: PIN,
    connections: CONNECTIONS,
    payloads: PAYLOADS,
  },
  results,
});
