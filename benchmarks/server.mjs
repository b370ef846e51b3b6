// Server benchmark: @gale/server against ws and Tornado, and beside two ceilings, in one run:
// the node:http floor (peers/floor-echo.mjs: a hand-written 101, then only frame headers read and
// prebuilt replies written, nothing validated: what Node allows at best, not a competitor) and
// raw Bun (peers/bun-echo.mjs: Bun.serve's native websocket handler, uWebSockets inside, run by
// the `bun` package pinned in package.json). Every server is driven by the
// same load generator, which shares no parser with any of them: loadgen/loadgen.c for echo and
// sessions (built here with the system's C compiler; it leaves the CPU to the server, where Node
// needed most of a core), loadgen/loadgen.mjs for fan-out and idle memory. Each measurement gets a
// fresh server process, so that RSS and CPU figures belong to that server alone; the measurements
// are interleaved (each one on every server before the next, and round after round) so that drift
// on a shared machine hits all servers alike, and the table shows each figure's median over the
// rounds (every round's figures are in the JSON).
//
//   pnpm --filter @gale/benchmarks bench:server      (after pnpm build)
//
// Prints a markdown table with ratios against ws, then one of Gale beside the ceilings (gale ÷
// floor, gale ÷ raw Bun), and writes bench-results/server.json.
// Environment, to scale up or narrow down:
//
//   BENCH_SERVERS=ws,tornado,floor,bun,gale,gale-bun    which servers (those unavailable are
//                           skipped: Tornado without python3-tornado, Bun and gale-bun without
//                           node_modules/.bin/bun)
//   BENCH_ONLY=echo,fanout,idle,sessions   which measurements
//   BENCH_ROUNDS=3          rounds of each measurement but idle memory (BENCH_IDLE_ROUNDS=1)
//   BENCH_DURATION_MS=3000  BENCH_WARMUP_MS=500     per echo and sessions measurement
//   BENCH_CONNECTIONS=50    BENCH_ECHO_SIZES=32,1024,65536    BENCH_ECHO_TEXT_SIZES=32
//   BENCH_FANOUT_SUBSCRIBERS=1000  BENCH_FANOUT_MESSAGES=100  BENCH_FANOUT_SIZE=32
//   BENCH_IDLE_CONNECTIONS=10000   (needs ulimit -n above that, for this shell's processes)
//   BENCH_IDLE_SETTLE_MS=2000   time after opening before the first idle-memory reading
//   BENCH_IDLE_MS=60000     idle time before the second idle-memory reading (0: none)
//   BENCH_SESSIONS_CONCURRENCY=50
//   BENCH_BUN_DEFLATE=0     1: both Bun servers (raw Bun, gale-bun) with permessage-deflate on
//   BENCH_LOADGEN=c         c: echo and sessions by loadgen/loadgen.c, built with $CC or cc (why
//                           in its header; loadgen.mjs when there is no compiler); node: by
//                           loadgen.mjs. Fan-out and idle memory are always loadgen.mjs's.
//   PYTHON=/usr/bin/python3         an interpreter that can import tornado

import { listFromEnv, numberFromEnv, numbersFromEnv } from './lib/env.mjs';
import {
  findBun,
  findTornadoPython,
  startBunPeer,
  startNodePeer,
  startTornadoEcho,
} from './lib/peers.mjs';
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
import {
  buildNativeLoadgen,
  echo,
  fanout,
  idleMemory,
  nativeEcho,
  nativeSessions,
  sessions,
} from './loadgen/loadgen.mjs';

const ROUNDS = numberFromEnv('BENCH_ROUNDS', 3);
const IDLE_ROUNDS = numberFromEnv('BENCH_IDLE_ROUNDS', 1);
const IDLE_MS = numberFromEnv('BENCH_IDLE_MS', 60_000);
const IDLE_SETTLE_MS = numberFromEnv('BENCH_IDLE_SETTLE_MS', 2000);
const DURATION_MS = numberFromEnv('BENCH_DURATION_MS', 3000);
const WARMUP_MS = numberFromEnv('BENCH_WARMUP_MS', 500);
const CONNECTIONS = numberFromEnv('BENCH_CONNECTIONS', 50);
const ECHO_SIZES = numbersFromEnv('BENCH_ECHO_SIZES', '32,1024,65536');
const ECHO_TEXT_SIZES = numbersFromEnv('BENCH_ECHO_TEXT_SIZES', '32');
const FANOUT_SUBSCRIBERS = numberFromEnv('BENCH_FANOUT_SUBSCRIBERS', 1000);
const FANOUT_MESSAGES = numberFromEnv('BENCH_FANOUT_MESSAGES', 100);
const FANOUT_SIZE = numberFromEnv('BENCH_FANOUT_SIZE', 32);
const IDLE_CONNECTIONS = numberFromEnv('BENCH_IDLE_CONNECTIONS', 10_000);
const SESSIONS_CONCURRENCY = numberFromEnv('BENCH_SESSIONS_CONCURRENCY', 50);
const LOADGEN = process.env['BENCH_LOADGEN'] ?? 'c';
const SERVERS = listFromEnv('BENCH_SERVERS', 'ws,tornado,floor,bun,gale,gale-bun');
const ONLY = listFromEnv('BENCH_ONLY', 'echo,fanout,idle,sessions');
const BUN_DEFLATE = process.env['BENCH_BUN_DEFLATE'] === '1' ? '1' : '0';

/**
 * @typedef {object} RunningServer
 * @property {number} port
 * @property {number} pid
 * @property {NodeJS.Signals} [gcSignal]  the server collects garbage on this signal
 * @property {() => Promise<void>} stop
 */

// Every server collects garbage on SIGUSR2 (the Node peers need --expose-gc for it), so that the
// idle-memory measurement can ask for a collection before each RSS reading.
/** @type {NodeJS.Signals} */
const gcSignal = 'SIGUSR2';
const tornado = findTornadoPython();
// Looked up only when selected: it runs `bun --version`.
const bun =
  SERVERS.includes('bun') || SERVERS.includes('gale-bun')
    ? findBun()
    : { bun: null, reason: 'not selected' };

/** @returns {Promise<RunningServer>} */
async function startWs() {
  return { ...(await startNodePeer('ws-echo.mjs', { nodeArgs: ['--expose-gc'] })), gcSignal };
}

/** @returns {Promise<RunningServer | null>} */
async function startTornado() {
  if (tornado === null) return null;
  return { ...(await startTornadoEcho(tornado.python)), gcSignal };
}

// peers/floor-echo.mjs: the node:http floor, on the same Node as ws and gale.
/** @returns {Promise<RunningServer>} */
async function startFloor() {
  return { ...(await startNodePeer('floor-echo.mjs', { nodeArgs: ['--expose-gc'] })), gcSignal };
}

// Both Bun servers get the same permessage-deflate setting, which Bun applies to the whole server
// (the load generator never asks for the extension): gale-bun ÷ raw Bun compares them configured
// alike.
const bunDeflate = { BUN_ECHO_DEFLATE: BUN_DEFLATE, GALE_BUN_DEFLATE: BUN_DEFLATE };

// peers/bun-echo.mjs, run by the pinned bun; it collects garbage on SIGUSR2 with Bun.gc(true).
/** @returns {Promise<RunningServer | null>} */
async function startBun() {
  if (bun.bun === null) return null;
  return { ...(await startBunPeer(bun.bun, 'bun-echo.mjs', { env: bunDeflate })), gcSignal };
}

// peers/gale-echo.mjs: the same routes as ws-echo.mjs, on the built @gale/server (pnpm build).
/** @returns {Promise<RunningServer>} */
async function startGale() {
  return { ...(await startNodePeer('gale-echo.mjs', { nodeArgs: ['--expose-gc'] })), gcSignal };
}

// peers/gale-bun-echo.mjs: gale-echo.mjs's application on @gale/server/bun, run by the pinned bun.
/** @returns {Promise<RunningServer | null>} */
async function startGaleBun() {
  if (bun.bun === null) return null;
  return { ...(await startBunPeer(bun.bun, 'gale-bun-echo.mjs', { env: bunDeflate })), gcSignal };
}

// In this order within each round, so that the ceilings run between ws and gale under the same
// drift as both.
const servers = [
  { name: 'ws', start: startWs },
  { name: 'tornado', start: startTornado },
  { name: 'floor', start: startFloor },
  { name: 'bun', start: startBun },
  { name: 'gale', start: startGale },
  { name: 'gale-bun', start: startGaleBun },
].filter((s) => SERVERS.includes(s.name));

/**
 * @typedef {object} Measurement
 * @property {string} id
 * @property {string} label
 * @property {string} kind  one of BENCH_ONLY's names
 * @property {(server: RunningServer) => Promise<Record<string, number>>} run
 * @property {[key: string, name: string][]} metrics  shown in the table, in this order
 */

const cpuMetrics = /** @type {[string, string][]} */ ([
  ['serverCpu', 'server CPU, cores'],
  ['loadgenCpu', 'load generator CPU, cores'],
]);

/**
 * Adds `<key>PerServerCore`: the rate per second of server CPU time. On a machine where the load
 * generator and the server share few cores, a server that needs less CPU leaves more to the load
 * generator, and the raw rate then measures both; this one is the server's alone.
 *
 * @param {Record<string, number>} result
 * @param {string} key
 */
function perCore(result, key) {
  const rate = result[key];
  const cores = result.serverCpu;
  if (typeof rate !== 'number' || typeof cores !== 'number' || !(cores > 0)) return result;
  return { ...result, [`${key}PerServerCore`]: rate / cores };
}

/** @type {Measurement[]} */
/** The echo and sessions loops in C (loadgen/loadgen.c), or null for loadgen.mjs's in Node. */
let nativeLoadgen = null;
/** Why echo and sessions fell back to loadgen.mjs, if they did. @type {string | null} */
let loadgenNote = null;
if (LOADGEN !== 'c' && LOADGEN !== 'node') {
  throw new Error(`BENCH_LOADGEN: expected c or node, got ${LOADGEN}`);
}
if (LOADGEN === 'c' && (ONLY.includes('echo') || ONLY.includes('sessions'))) {
  const built = buildNativeLoadgen();
  if (built.path === null) {
    loadgenNote = `${built.reason}; echo and sessions were run by loadgen.mjs instead`;
  }
  nativeLoadgen = built.path;
}
const nativeLabel = nativeLoadgen === null ? '' : ', C load generator';

const measurements = [
  ...[
    ...ECHO_SIZES.map((size) => ({ size, text: false })),
    ...ECHO_TEXT_SIZES.map((size) => ({ size, text: true })),
  ].map(({ size, text }) => ({
    id: `echo-${text ? 'text' : 'binary'}-${size}`,
    label: `echo ${sizeLabel(size)} ${text ? 'text' : 'binary'}, ${CONNECTIONS} connections${nativeLabel}`,
    kind: 'echo',
    run: async (/** @type {RunningServer} */ s) => {
      const options = {
        url: `ws://127.0.0.1:${s.port}/echo`,
        connections: CONNECTIONS,
        size,
        text,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        pid: s.pid,
      };
      return perCore(
        nativeLoadgen === null ? await echo(options) : await nativeEcho(nativeLoadgen, options),
        'roundTripsPerSec',
      );
    },
    metrics: /** @type {[string, string][]} */ ([
      ['roundTripsPerSec', 'round trips/s'],
      ['roundTripsPerSecPerServerCore', 'round trips per second of server CPU'],
      ['p50Ms', 'p50 latency, ms (lower is better)'],
      ['p99Ms', 'p99 latency, ms (lower is better)'],
      ...cpuMetrics,
    ]),
  })),
  {
    id: 'fanout',
    label: `fan-out ${FANOUT_MESSAGES} × ${sizeLabel(FANOUT_SIZE)} to ${FANOUT_SUBSCRIBERS} subscribers`,
    kind: 'fanout',
    run: (s) =>
      fanout({
        url: `ws://127.0.0.1:${s.port}/fanout`,
        subscribers: FANOUT_SUBSCRIBERS,
        messages: FANOUT_MESSAGES,
        size: FANOUT_SIZE,
        pid: s.pid,
      }),
    metrics: [['deliveriesPerSec', 'deliveries/s'], ['elapsedMs', 'elapsed, ms'], ...cpuMetrics],
  },
  {
    id: 'idle-memory',
    label: `idle memory, ${IDLE_CONNECTIONS} connections`,
    kind: 'idle',
    run: (s) =>
      idleMemory({
        url: `ws://127.0.0.1:${s.port}/echo`,
        connections: IDLE_CONNECTIONS,
        settleMs: IDLE_SETTLE_MS,
        idleMs: IDLE_MS,
        pid: s.pid,
        ...(s.gcSignal ? { gcSignal: s.gcSignal } : {}),
      }),
    metrics: [
      [
        'rssIdleBytesPerConnection',
        `RSS bytes per connection after ${IDLE_MS / 1000} s idle (lower is better)`,
      ],
      [
        'rssBytesPerConnection',
        `RSS bytes per connection ${IDLE_SETTLE_MS / 1000} s after opening (lower is better)`,
      ],
      ['rssBeforeBytes', 'RSS before, bytes'],
    ],
  },
  {
    id: 'sessions',
    label: `sessions (connect, echo, close), ${SESSIONS_CONCURRENCY} at a time${nativeLabel}`,
    kind: 'sessions',
    run: async (s) => {
      const options = {
        url: `ws://127.0.0.1:${s.port}/echo`,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        concurrency: SESSIONS_CONCURRENCY,
        pid: s.pid,
      };
      return perCore(
        nativeLoadgen === null
          ? await sessions(options)
          : await nativeSessions(nativeLoadgen, options),
        'sessionsPerSec',
      );
    },
    metrics: [
      ['sessionsPerSec', 'sessions/s'],
      ['sessionsPerSecPerServerCore', 'sessions per second of server CPU'],
      ...cpuMetrics,
    ],
  },
].filter((m) => ONLY.includes(m.kind));

/** @type {Record<string, string>} */
const skipped = {};
if (tornado === null && SERVERS.includes('tornado')) {
  skipped['tornado'] = 'no python3 can import tornado (apt-get install python3-tornado)';
}
if (bun.bun === null && SERVERS.includes('bun')) skipped['bun'] = bun.reason;
if (bun.bun === null && SERVERS.includes('gale-bun')) skipped['gale-bun'] = bun.reason;

/** The median of each numeric key over the rounds that did not fail. @param {any[]} rounds */
function medians(rounds) {
  const ok = rounds.filter((r) => !r.error);
  if (ok.length === 0) return rounds[0];
  /** @type {Record<string, number>} */
  const out = {};
  for (const key of Object.keys(ok[0])) {
    out[key] = median(ok.map((r) => r[key]).filter((v) => typeof v === 'number'));
  }
  return out;
}

/**
 * Each measurement's medians by server, its rounds, and (once all have run) the ratios of
 * {@link ratiosOf}.
 *
 * @type {{ id: string, label: string, results: Record<string, any>, rounds: Record<string, any[]>,
 *   ratios: Record<string, Record<string, number | null>> }[]}
 */
const results = [];
for (const measurement of measurements) {
  /** @type {Record<string, any[]>} */
  const rounds = {};
  const count = measurement.kind === 'idle' ? IDLE_ROUNDS : ROUNDS;
  for (let round = 1; round <= count; round++) {
    for (const { name, start } of servers) {
      if (name in skipped) continue;
      let server = null;
      let result;
      try {
        server = await start();
        if (server === null) {
          skipped[name] = 'not available yet';
          continue;
        }
        process.stderr.write(
          `${measurement.label}, round ${round}/${count} — ${name} (pid ${server.pid}) … `,
        );
        result = await measurement.run(server);
        process.stderr.write('done\n');
      } catch (error) {
        result = { error: /** @type {Error} */ (error).message };
        process.stderr.write(`failed: ${result.error}\n`);
      } finally {
        await server?.stop();
      }
      rounds[name] ??= [];
      rounds[name].push(result);
    }
  }
  /** @type {Record<string, any>} */
  const row = {};
  for (const [name, list] of Object.entries(rounds)) row[name] = medians(list);
  results.push({ id: measurement.id, label: measurement.label, results: row, rounds, ratios: {} });
}

const shown = servers.map((s) => s.name).filter((name) => !(name in skipped));
/** The servers measured as ceilings, not competitors: the gale ÷ ws table leaves them out. */
const CEILINGS = ['floor', 'bun'];
/** The ceilings' ratios: what the second table prints and the JSON keeps, by name. */
const CEILING_RATIOS = /** @type {const} */ ([
  ['gale ÷ floor', 'gale', 'floor'],
  ['gale ÷ raw Bun', 'gale', 'bun'],
  ['gale-bun ÷ raw Bun', 'gale-bun', 'bun'],
]);

/**
 * The ratios over each metric of a measurement's medians: `<a> ÷ ws` for every competitor but
 * ws, then gale ÷ each ceiling; a ratio whose servers were not both measured is left out.
 *
 * @param {Record<string, any>} row  the medians by server
 * @param {[key: string, name: string][]} metrics
 * @returns {Record<string, Record<string, number | null>>}
 */
function ratiosOf(row, metrics) {
  const pairs = [
    ...shown
      .filter((name) => name !== 'ws' && !CEILINGS.includes(name))
      .map((name) => [`${name} ÷ ws`, name, 'ws']),
    ...CEILING_RATIOS,
  ].filter(([, a, b]) => shown.includes(a) && shown.includes(b));
  /** @type {Record<string, Record<string, number | null>>} */
  const out = {};
  for (const [label, a, b] of pairs) {
    out[label] = {};
    for (const [key] of metrics) {
      const ratio = row[a]?.error || row[b]?.error ? Number.NaN : row[a]?.[key] / row[b]?.[key];
      out[label][key] = Number.isFinite(ratio) ? ratio : null;
    }
  }
  return out;
}

/**
 * One markdown table: the medians of `names` side by side, then the `ratioLabels` columns from
 * {@link ratiosOf}, and a row for each of these servers that failed. A skipped server's column
 * says `skipped` (the reason follows the tables).
 *
 * @param {string[]} names
 * @param {string[]} ratioLabels
 */
function table(names, ratioLabels) {
  const header = ['measurement', 'metric', ...names, ...ratioLabels];
  /** @type {string[][]} */
  const rows = [];
  for (const [index, measurement] of measurements.entries()) {
    const result = /** @type {(typeof results)[number]} */ (results[index]);
    const row = result.results;
    for (const [key, name] of measurement.metrics) {
      const values = names.map((server) =>
        server in skipped
          ? 'skipped'
          : formatNumber(row[server]?.error ? undefined : row[server]?.[key]),
      );
      const ratios = ratioLabels.map((label) => formatRatio(result.ratios[label]?.[key] ?? NaN));
      rows.push([measurement.label, name, ...values, ...ratios]);
    }
    for (const server of names.filter((name) => row[name]?.error)) {
      rows.push([measurement.label, `**${server} failed**`, row[server].error]);
    }
  }
  return markdownTable(header, rows, { textColumns: 2 });
}

for (const [index, measurement] of measurements.entries()) {
  const result = /** @type {(typeof results)[number]} */ (results[index]);
  result.ratios = ratiosOf(result.results, measurement.metrics);
}
const competitors = shown.filter((name) => !CEILINGS.includes(name));
const wsTable = table(
  competitors,
  shown.includes('ws') ? competitors.filter((name) => name !== 'ws').map((n) => `${n} ÷ ws`) : [],
);
const ceilings = shown.filter((name) => CEILINGS.includes(name));
// Every selected ceiling has its column, a skipped one too: the second table is the reason to
// run them, and a missing `bun` should be seen there, not only in a line below.
const selectedCeilings = servers.map((s) => s.name).filter((name) => CEILINGS.includes(name));
const ceilingTable =
  selectedCeilings.length === 0
    ? null
    : table(
        [...selectedCeilings, ...['gale', 'gale-bun'].filter((name) => shown.includes(name))],
        CEILING_RATIOS.filter(([, a, b]) => SERVERS.includes(a) && SERVERS.includes(b)).map(
          ([label]) => label,
        ),
      );

const config = {
  rounds: ROUNDS,
  idleRounds: IDLE_ROUNDS,
  idleMs: IDLE_MS,
  durationMs: DURATION_MS,
  warmupMs: WARMUP_MS,
  connections: CONNECTIONS,
  echoSizes: ECHO_SIZES,
  echoTextSizes: ECHO_TEXT_SIZES,
  fanoutSubscribers: FANOUT_SUBSCRIBERS,
  fanoutMessages: FANOUT_MESSAGES,
  fanoutSize: FANOUT_SIZE,
  idleConnections: IDLE_CONNECTIONS,
  bunPerMessageDeflate: BUN_DEFLATE === '1',
  sessionsConcurrency: SESSIONS_CONCURRENCY,
  loadGenerator: {
    echoAndSessions: nativeLoadgen === null ? 'loadgen/loadgen.mjs' : 'loadgen/loadgen.c',
    fanoutAndIdle: 'loadgen/loadgen.mjs',
  },
};
const { cpus, cpuModel } = machine();
const ceilingNames = [
  ...(ceilings.includes('floor') ? ['the node:http floor'] : []),
  ...(ceilings.includes('bun') && bun.bun !== null
    ? [`raw Bun ${bun.version} (permessage-deflate ${BUN_DEFLATE === '1' ? 'on' : 'off'})`]
    : []),
];
console.log(
  `\n@gale/server vs ws ${wsVersion}${tornado ? ` and Tornado ${tornado.version}` : ''}` +
    `${ceilingNames.length > 0 ? `, beside ${ceilingNames.join(' and ')},` : ''} on Node ` +
    `${process.version}, ${cpus} × ${cpuModel}; load generator: ` +
    `${nativeLoadgen === null ? 'loadgen.mjs' : 'loadgen.c for echo and sessions, loadgen.mjs for the rest'}; ` +
    `medians of ${ROUNDS} rounds (idle memory: ${IDLE_ROUNDS})\n`,
);
console.log(wsTable);
if (ceilingTable !== null) {
  // The ceilings: how close gale comes to what node:http allows at best, and to Bun's native
  // server. Above 1× gale does more per second (below 1× for the rows marked lower is better).
  console.log(
    `\nGale beside the ceilings (the floor validates nothing: a ceiling, not a competitor)\n`,
  );
  console.log(ceilingTable);
}
for (const [name, reason] of Object.entries(skipped)) console.log(`\n${name} skipped: ${reason}`);
if (loadgenNote !== null) console.log(`\nnote: ${loadgenNote}`);
// On a 2-core machine the load generator and the server share the CPU: a figure is only the
// server's limit while the load generator has spare time.
for (const { label, rounds } of results) {
  for (const [name, list] of Object.entries(rounds)) {
    const failed = list.filter((r) => r.error);
    if (failed.length > 0 && failed.length < list.length) {
      console.log(
        `\nnote: ${label}, ${name}: ${failed.length} of ${list.length} rounds failed and are ` +
          `left out of the median (${failed[0].error})`,
      );
    }
  }
}
for (const { label, results: row } of results) {
  for (const [name, result] of Object.entries(row)) {
    if (result?.loadgenCpu >= 0.9) {
      console.log(
        `\nnote: ${label}, ${name}: the load generator used ${result.loadgenCpu.toFixed(2)} ` +
          'cores, so this figure may be capped by it rather than by the server',
      );
    }
  }
}

writeResults('server', {
  node: process.version,
  ws: wsVersion,
  tornado: tornado?.version ?? null,
  bun: bun.bun === null ? null : bun.version,
  cpus,
  cpuModel,
  config,
  skipped,
  results,
});
