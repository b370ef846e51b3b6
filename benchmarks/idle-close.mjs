// Idle-close memory: does a server give back the memory of connections that have closed? Each
// server runs in one fresh process (with lib/memory-probe.mjs preloaded, which reads its memory
// from the inside), and this process, through loadgen/loadgen.mjs, for each round:
//
//   1. opens N idle connections to /echo (100 handshakes in flight) and reads RSS (no GC);
//   2. closes them all with the closing handshake (a Close frame with 1000, the server's Close
//      frame, the end of TCP) and waits until the server holds none of their sockets;
//   3. with BENCH_IDLE_CLOSE_WAIT_MS > 0: waits that long and reads RSS as it is, without a GC;
//   4. forces two full collections in the server, waits 1 s and reads RSS: the primary figure.
//
// Without a forced collection the figure says when V8 happened to collect rather than what the
// server kept: nothing makes V8 collect while a server sits idle. After two full collections
// everything a closed connection left behind is either freed or still referenced; the 1 s lets
// V8's background threads hand the freed pages back (a reading taken at once is several MiB too
// high). One thing a forced collection does not undo: the young generation that the burst of
// handshakes grew (to 32 MiB) stays committed until V8 sees a low allocation rate at some later
// collection, tens of seconds on, in some rounds and not in others. So the table also shows how
// much of each figure is V8's young generation, and the verdicts are given for RSS and for RSS
// less the young generation.
//
//   pnpm --filter @gale/benchmarks bench:idle-close      (after pnpm build; needs ulimit -n > N)
//
// Prints a markdown table of RSS after close per round and server, with gale ÷ ws, and whether
// gale's figure is at most ws's in every round and flat from round 3; writes
// bench-results/idle-close.json. Environment:
//
//   BENCH_IDLE_CLOSE_CONNECTIONS=10000   idle connections per round
//   BENCH_IDLE_CLOSE_ROUNDS=5
//   BENCH_IDLE_CLOSE_WAIT_MS=0           >0: also read RSS that long after close, without a GC
//   BENCH_IDLE_CLOSE_SERVERS=gale,ws     also: gale-app (apps/echo/dist/server.js, pnpm build)
//   BENCH_IDLE_CLOSE_FLAT_MIB=3          rounds 3 to R are flat when their spread is within this

import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listFromEnv, numberFromEnv } from './lib/env.mjs';
import { GC_SETTLE_MS, startProbedServer } from './lib/memory.mjs';
import { formatRatio, machine, markdownTable, writeResults, wsVersion } from './lib/report.mjs';
import { closeAll, openFileLimit, openMany, parseTarget } from './loadgen/loadgen.mjs';

const CONNECTIONS = numberFromEnv('BENCH_IDLE_CLOSE_CONNECTIONS', 10_000);
const ROUNDS = numberFromEnv('BENCH_IDLE_CLOSE_ROUNDS', 5);
const WAIT_MS = numberFromEnv('BENCH_IDLE_CLOSE_WAIT_MS', 0);
const FLAT_MIB = numberFromEnv('BENCH_IDLE_CLOSE_FLAT_MIB', 3);
const SERVERS = listFromEnv('BENCH_IDLE_CLOSE_SERVERS', 'gale,ws');
// Flatness is judged from this round on: the first rounds may still grow the allocator's and
// V8's pools to their working size, which is no leak.
const FLAT_FROM_ROUND = 3;
// A spread needs two rounds from FLAT_FROM_ROUND on.
const CAN_JUDGE_FLATNESS = ROUNDS > FLAT_FROM_ROUND;
// Before the baseline and after the connections opened: time for the last handshakes' callbacks.
const SETTLE_MS = 1000;
const CLOSE_TIMEOUT_MS = 60_000;
const MiB = 1024 * 1024;
// Read now: once this process runs out of file descriptors it cannot open /proc/self/limits.
const SELF_OPEN_FILE_LIMIT = openFileLimit('self');

const ECHO_APP = fileURLToPath(new URL('../apps/echo/dist/server.js', import.meta.url));

/** @type {Record<string, () => Promise<import('./lib/memory.mjs').ProbedServer>>} */
const starters = {
  gale: () => startProbedServer('peers/gale-echo.mjs'),
  ws: () => startProbedServer('peers/ws-echo.mjs', { env: { WS_ECHO_DEFLATE: '0' } }),
  'gale-app': () =>
    startProbedServer(ECHO_APP, {
      args: [],
      env: { PORT: '0', HOST: '127.0.0.1' },
      ready: /^echo: http:\/\/[\d.]+:(\d+)\//,
    }),
};
for (const name of SERVERS) {
  if (!(name in starters)) {
    throw new Error(`BENCH_IDLE_CLOSE_SERVERS: expected gale, ws or gale-app, got ${name}`);
  }
}
if (!(Number.isInteger(CONNECTIONS) && CONNECTIONS > 0)) {
  throw new Error(`BENCH_IDLE_CLOSE_CONNECTIONS: expected a count, got ${CONNECTIONS}`);
}
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0)) {
  throw new Error(`BENCH_IDLE_CLOSE_ROUNDS: expected a count, got ${ROUNDS}`);
}

/** @type {Record<string, string>} */
const skipped = {};
if (SERVERS.includes('gale-app') && !existsSync(ECHO_APP)) {
  skipped['gale-app'] = 'apps/echo/dist/server.js is missing (pnpm build at the root builds it)';
}

/**
 * @typedef {import('./lib/memory.mjs').MemoryReading} MemoryReading
 *
 * @typedef {object} Round
 * @property {number} round
 * @property {number} openMs  time to open the connections
 * @property {MemoryReading} open  with the connections open, no GC
 * @property {number} closeMs  time until every closing handshake finished and the server held
 *   none of the sockets
 * @property {number} unclean  connections that did not get the server's Close frame with 1000
 * @property {MemoryReading} [waited]  BENCH_IDLE_CLOSE_WAIT_MS after close, no GC
 * @property {MemoryReading} rightAfterGc  straight after the forced collections
 * @property {MemoryReading} closed  GC_SETTLE_MS after them: the primary figure
 *
 * @typedef {{ baseline?: MemoryReading, rounds: Round[], error?: string }} ServerResult
 */

/**
 * One server, one process, every round.
 *
 * @param {string} name
 * @returns {Promise<ServerResult>}
 */
async function measure(name) {
  /** @type {ServerResult} */
  const result = { rounds: [] };
  const server = await /** @type {() => Promise<import('./lib/memory.mjs').ProbedServer>} */ (
    starters[name]
  )();
  try {
    const needed = CONNECTIONS + 64;
    for (const [who, limit] of /** @type {const} */ ([
      ['the load generator', SELF_OPEN_FILE_LIMIT],
      [`the server (pid ${server.pid})`, openFileLimit(server.pid)],
    ])) {
      if (limit < needed) {
        throw new Error(
          `${CONNECTIONS} connections need about ${needed} file descriptors but ${who} may ` +
            `open only ${limit}; raise ulimit -n before starting it`,
        );
      }
    }
    const target = parseTarget(`ws://127.0.0.1:${server.port}/echo`);
    await sleep(SETTLE_MS);
    result.baseline = (await server.memory({ gc: true, waitMs: GC_SETTLE_MS })).reading;
    const progress = (/** @type {string} */ text) =>
      process.stderr.write(`idle-close ${name} (pid ${server.pid}): ${text}\n`);
    progress(`baseline ${mib(result.baseline.vmRss)} MiB`);
    for (let round = 1; round <= ROUNDS; round++) {
      let begin = performance.now();
      const connections = await openMany(target, CONNECTIONS, { pid: server.pid });
      let dropped = 0;
      for (const connection of connections) {
        connection.onSocketClose = () => dropped++;
        connection.start();
      }
      const openMs = performance.now() - begin;
      await sleep(SETTLE_MS);
      const open = (await server.memory({ gc: false })).reading;
      if (dropped > 0) throw new Error(`the server dropped ${dropped} idle connections`);
      begin = performance.now();
      await closeAll(connections, CLOSE_TIMEOUT_MS);
      await released(server);
      const closeMs = performance.now() - begin;
      const unclean = connections.filter(
        (c) => !c.isCloseFrameReceived || c.closeCode !== 1000,
      ).length;
      /** @type {MemoryReading | undefined} */
      let waited;
      if (WAIT_MS > 0) {
        await sleep(WAIT_MS);
        waited = (await server.memory({ gc: false })).reading;
      }
      const { reading: closed, rightAfterGc } = await server.memory({
        gc: true,
        waitMs: GC_SETTLE_MS,
      });
      result.rounds.push({
        round,
        openMs,
        open,
        closeMs,
        unclean,
        ...(waited === undefined ? {} : { waited }),
        rightAfterGc: /** @type {MemoryReading} */ (rightAfterGc),
        closed,
      });
      progress(
        `round ${round}/${ROUNDS}: open ${mib(open.vmRss)} MiB, ` +
          `${waited === undefined ? '' : `${WAIT_MS / 1000} s after close ${mib(waited.vmRss)} MiB, `}` +
          `after close + GC ${mib(closed.vmRss)} MiB (${mib(rightAfterGc?.vmRss)} at once; young ` +
          `generation ${mib(closed.youngGeneration)})` +
          `${unclean > 0 ? `, ${unclean} closed without the server's Close 1000` : ''}`,
      );
    }
  } catch (error) {
    result.error = /** @type {Error} */ (error).message;
    process.stderr.write(`idle-close ${name}: failed: ${result.error}\n`);
  } finally {
    await server.stop();
  }
  return result;
}

/**
 * Resolves once the server holds none of the connections' sockets any more. The load generator
 * sees a connection closed as soon as the kernel does; a busy server may take seconds more to
 * run the close callbacks of thousands of sockets, and a collection before that would count
 * connections still alive.
 *
 * @param {import('./lib/memory.mjs').ProbedServer} server
 */
async function released(server) {
  const deadline = performance.now() + CLOSE_TIMEOUT_MS;
  for (;;) {
    const { sockets } = (await server.memory({ gc: false })).reading;
    if (sockets === 0) return;
    if (performance.now() > deadline) {
      throw new Error(
        `the server still held ${sockets} sockets ${CLOSE_TIMEOUT_MS / 1000} s after close`,
      );
    }
    await sleep(100);
  }
}

/** Bytes as MiB with one decimal; `—` for none. @param {number | null | undefined} bytes */
function mib(bytes) {
  return typeof bytes === 'number' && Number.isFinite(bytes) ? (bytes / MiB).toFixed(1) : '—';
}

/** @type {Record<string, ServerResult>} */
const results = {};
for (const name of SERVERS) {
  if (name in skipped) continue;
  try {
    results[name] = await measure(name);
  } catch (error) {
    // The server did not start.
    results[name] = { rounds: [], error: /** @type {Error} */ (error).message };
    process.stderr.write(`idle-close ${name}: failed: ${results[name].error}\n`);
  }
}

const shown = SERVERS.filter((name) => name in results);
const others = shown.filter((name) => name !== 'ws');
const hasWs = shown.includes('ws');

/**
 * `field` of the reading `key` of `name` in `round` (0: the baseline), in bytes.
 *
 * @param {string} name
 * @param {number} round
 * @param {'closed' | 'open' | 'waited'} [key]
 * @param {'vmRss' | 'youngGeneration'} [field]
 */
function figure(name, round, key = 'closed', field = 'vmRss') {
  const result = results[name];
  const reading =
    round === 0 ? result?.baseline : result?.rounds.find((r) => r.round === round)?.[key];
  return reading?.[field];
}

/**
 * Max − min of the figures after close from FLAT_FROM_ROUND on, in bytes.
 *
 * @param {string} name
 * @param {(name: string, round: number) => number | undefined} [of]
 */
function spread(name, of = (n, round) => figure(n, round)) {
  const values = [];
  for (let round = FLAT_FROM_ROUND; round <= ROUNDS; round++) {
    const value = of(name, round);
    if (value === undefined) return Number.NaN;
    values.push(value);
  }
  return values.length === 0 ? Number.NaN : Math.max(...values) - Math.min(...values);
}

const rounds = Array.from({ length: ROUNDS }, (_, i) => i + 1);
const ratioHeader = hasWs ? others.map((name) => `${name} ÷ ws`) : [];
/** @param {number} round @param {'closed' | 'open' | 'waited'} key */
const ratios = (round, key) =>
  hasWs
    ? others.map((name) =>
        formatRatio(
          /** @type {number} */ (figure(name, round, key)) /
            /** @type {number} */ (figure('ws', round, key)),
        ),
      )
    : [];
/** @param {number} round */
const youngGenerations = (round) =>
  shown.map((name) => mib(figure(name, round, 'closed', 'youngGeneration')));

const primary = markdownTable(
  [
    'round',
    ...shown.map((name) => `${name}, MiB`),
    ...ratioHeader,
    ...shown.map((name) => `${name}: V8 young generation, MiB`),
  ],
  [
    [
      'baseline',
      ...shown.map((name) => mib(figure(name, 0))),
      ...ratios(0, 'closed'),
      ...youngGenerations(0),
    ],
    ...rounds.map((round) => [
      String(round),
      ...shown.map((name) => mib(figure(name, round))),
      ...ratios(round, 'closed'),
      ...youngGenerations(round),
    ]),
    ...(CAN_JUDGE_FLATNESS
      ? [
          [
            `spread of rounds ${FLAT_FROM_ROUND}–${ROUNDS}`,
            ...shown.map((name) => mib(spread(name))),
            ...ratioHeader.map(() => ''),
            ...shown.map(() => ''),
          ],
        ]
      : []),
  ],
);

/** @type {[key: 'open' | 'waited', label: string][]} */
const secondaryReadings = [['open', 'open']];
if (WAIT_MS > 0) secondaryReadings.push(['waited', `${WAIT_MS / 1000} s after close, no GC`]);
const secondary = markdownTable(
  [
    'round',
    ...secondaryReadings.flatMap(([, label]) => shown.map((name) => `${name} ${label}, MiB`)),
  ],
  rounds.map((round) => [
    String(round),
    ...secondaryReadings.flatMap(([key]) => shown.map((name) => mib(figure(name, round, key)))),
  ]),
);

/** RSS after close less V8's young generation. @param {string} name @param {number} round */
const outsideYoung = (name, round) => {
  const rss = figure(name, round);
  const young = figure(name, round, 'closed', 'youngGeneration');
  return rss === undefined || young === undefined ? undefined : rss - young;
};

/**
 * The verdicts for one way of counting a server's memory after close: whether it is at most
 * ws's in every round (null for ws itself, or when a figure is missing) and whether it is flat
 * from FLAT_FROM_ROUND on (null when that cannot be judged).
 *
 * @param {string} name
 * @param {(name: string, round: number) => number | undefined} of
 */
function judge(name, of) {
  const complete = (/** @type {string} */ n) => rounds.every((round) => of(n, round) !== undefined);
  const spreadBytes = spread(name, of);
  const flat = CAN_JUDGE_FLATNESS && complete(name) ? spreadBytes <= FLAT_MIB * MiB : null;
  /** @type {number[] | null} */
  const roundsAboveWs =
    name !== 'ws' && hasWs && complete(name) && complete('ws')
      ? rounds.filter(
          (round) =>
            /** @type {number} */ (of(name, round)) > /** @type {number} */ (of('ws', round)),
        )
      : null;
  return {
    atMostWs: roundsAboveWs === null ? null : roundsAboveWs.length === 0,
    roundsAboveWs,
    flat,
    spreadBytes,
  };
}

/** @param {ReturnType<typeof judge>} j */
const describeAtMostWs = (j) =>
  j.atMostWs ? 'yes' : `no (above in round ${j.roundsAboveWs?.join(', ')})`;
/** @param {ReturnType<typeof judge>} j */
const describeFlat = (j) => `${j.flat ? 'yes' : 'no'} (spread ${mib(j.spreadBytes)} MiB)`;

/** @type {Record<string, { rss: ReturnType<typeof judge>, lessYoungGeneration: ReturnType<typeof judge> }>} */
const verdict = {};
const lines = [];
for (const name of shown) {
  const rss = judge(name, (n, round) => figure(n, round));
  const lessYoung = judge(name, outsideYoung);
  verdict[name] = { rss, lessYoungGeneration: lessYoung };
  if (rss.atMostWs !== null) {
    lines.push(
      `${name} ≤ ws after close in every round: ${describeAtMostWs(rss)}; less V8's young ` +
        `generation: ${describeAtMostWs(lessYoung)}`,
    );
  }
  if (rss.flat !== null) {
    lines.push(
      `${name} flat from round ${FLAT_FROM_ROUND} (rounds ${FLAT_FROM_ROUND}–${ROUNDS} within ` +
        `${FLAT_MIB} MiB): ${describeFlat(rss)}; less V8's young generation: ` +
        `${describeFlat(lessYoung)}`,
    );
  }
}
if (!CAN_JUDGE_FLATNESS) {
  lines.push(
    `flat from round ${FLAT_FROM_ROUND}: not judged, it needs ${FLAT_FROM_ROUND + 1} rounds or more`,
  );
}

const { cpus, cpuModel } = machine();
console.log(
  `\nIdle-close memory: @gale/server vs ws ${wsVersion} on Node ${process.version}, ${cpus} × ` +
    `${cpuModel}; ${CONNECTIONS} idle connections opened and closed (closing handshake) per ` +
    `round, ${ROUNDS} rounds, one process per server\n`,
);
console.log(
  `RSS after close, two forced full GCs and ${GC_SETTLE_MS / 1000} s (lower is better), and ` +
    "how much of it is V8's young generation:\n",
);
console.log(primary);
console.log(
  `\nRSS with the ${CONNECTIONS} connections open${WAIT_MS > 0 ? ', and after close without a GC' : ''}:\n`,
);
console.log(secondary);
console.log('');
for (const line of lines) console.log(line);
for (const [name, reason] of Object.entries(skipped)) console.log(`\n${name} skipped: ${reason}`);
for (const [name, result] of Object.entries(results)) {
  if (result.error) console.log(`\n${name} failed: ${result.error}`);
  const unclean = result.rounds.reduce((sum, r) => sum + r.unclean, 0);
  if (unclean > 0) {
    console.log(
      `\nnote: ${name}: ${unclean} connections over the rounds closed without the server's ` +
        'Close frame with 1000',
    );
  }
}

writeResults('idle-close', {
  node: process.version,
  ws: wsVersion,
  cpus,
  cpuModel,
  config: {
    connections: CONNECTIONS,
    rounds: ROUNDS,
    waitMs: WAIT_MS,
    gcSettleMs: GC_SETTLE_MS,
    flatMiB: FLAT_MIB,
    flatFromRound: FLAT_FROM_ROUND,
    servers: SERVERS,
  },
  skipped,
  verdict,
  results,
});
