// Resumable topics (gale.v1): what keeping history costs, what a resume costs, how fast clients
// recover from the death of an instance. Every instance is its own process
// (peers/resume-instance.mjs); redis-server is started on a free port.
//
// 1. Fan-out deliveries/s with history on and off, round after round in turns on the same
//    machine: one instance on the in-memory broker, and two instances on RedisBroker. The
//    subscribers are @gale/client connections with `resume: true` (so every message carries its
//    gale.v1 envelope in both cases).
// 2. The server CPU one client costs to resume after missing 100 messages of its 10 topics, while
//    1,000,000 messages were published on 1,000 other topics: process.cpuUsage() of the instance
//    around the resume (the handshake included), less the cost of asking for it; beside a resume
//    that missed nothing. In-memory broker and RedisBroker (with redis-server's own CPU).
// 3. Recovery after kill -9: two instances on Redis behind a TCP balancer, 200 clients on one
//    topic published every 10 ms; one instance is killed; for each client that was on it, the time
//    from the kill until it has caught up (received every message published before its
//    reconnection), with every message in between delivered (checked).
//
//   pnpm --filter @gale/benchmarks bench:resume      (after pnpm build)
//
// Environment: BENCH_SUBSCRIBERS=1000, BENCH_MESSAGES=200, BENCH_SIZE=32, BENCH_ROUNDS=6,
// BENCH_RESUME_ITERATIONS=30, BENCH_RESUME_OTHERS=1000000, BENCH_RECOVERY_CLIENTS=200,
// BENCH_RECOVERY_KILLS=4.

import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { websocketConnect } from '@gale/client';
import { encodeHello, parseServerMessage, RESUME_SUBPROTOCOL } from '@gale/frame/resume';
import { RedisBroker } from '@gale/redis';
import { startRedis, startTcpProxy } from '@gale/test-utils';
import WebSocket from 'ws';
import { numberFromEnv } from './lib/env.mjs';
import { startNodePeer } from './lib/peers.mjs';
import {
  describeMachine,
  formatNumber,
  formatRatio,
  markdownTable,
  writeResults,
} from './lib/report.mjs';
import { median } from './lib/stats.mjs';

const SUBSCRIBERS = numberFromEnv('BENCH_SUBSCRIBERS', 1000);
const MESSAGES = numberFromEnv('BENCH_MESSAGES', 200);
const SIZE = numberFromEnv('BENCH_SIZE', 32);
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 6);
const ITERATIONS = numberFromEnv('BENCH_RESUME_ITERATIONS', 30);
const OTHERS = numberFromEnv('BENCH_RESUME_OTHERS', 1_000_000);
const RECOVERY_CLIENTS = numberFromEnv('BENCH_RECOVERY_CLIENTS', 200);
const KILLS = numberFromEnv('BENCH_RECOVERY_KILLS', 4);
const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`);

/** @param {Record<string, string>} env */
async function instance(env) {
  const peer = await startNodePeer('resume-instance.mjs', { env });
  return { ...peer, base: `ws://127.0.0.1:${peer.port}` };
}

/** A plain ws connection to an instance's /admin route, one command at a time. */
async function admin(base) {
  const ws = new WebSocket(`${base}/admin`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    /** @param {string} command */
    ask(command) {
      return new Promise((resolve) => {
        ws.once('message', (data) => resolve(String(data)));
        ws.send(command);
      });
    },
    close: () => ws.close(),
  };
}

// ---- 1. fan-out, history on vs off --------------------------------------------------------------

async function fanoutSetup(label, bases) {
  let received = 0;
  let target = 0;
  let done = () => {};
  const perInstance = SUBSCRIBERS / bases.length;
  const subscribers = [];
  for (const base of bases) {
    for (let i = 0; i < perInstance; i++) {
      const connection = await websocketConnect(`${base}/t/fanout`, {
        resume: true,
        onMessage() {
          if (++received === target) done();
        },
      });
      subscribers.push(connection);
    }
  }
  const control = await admin(bases[0]);
  return {
    label,
    rates: [],
    async round() {
      received = 0;
      target = MESSAGES * SUBSCRIBERS;
      const finished = new Promise((resolve) => {
        done = resolve;
      });
      const started = process.hrtime.bigint();
      await control.ask(`fanout:${MESSAGES}:${SIZE}`);
      await finished;
      return target / (Number(process.hrtime.bigint() - started) / 1e9);
    },
    async close() {
      control.close();
      await Promise.all(subscribers.map((s) => s.close()));
    },
  };
}

/** Runs the setups' rounds in turns (the order flips every round); round 0 warms up. */
async function inTurns(setups) {
  for (let round = 0; round <= ROUNDS; round++) {
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) {
      const rate = await setup.round();
      if (round > 0) setup.rates.push(rate);
      log(`${setup.label}, round ${round}/${ROUNDS}: ${rate.toFixed(0)} deliveries/s`);
    }
  }
}

// ---- 2. the CPU of one resume ---------------------------------------------------------------------

/** A raw gale.v1 client (ws): sends the hello, parses what arrives. */
async function galeSocket(url, points) {
  const ws = new WebSocket(url, [RESUME_SUBPROTOCOL]);
  const positions = new Map(points.map(([topic, epoch, offset]) => [topic, { epoch, offset }]));
  let topicMessages = 0;
  let waiter = null;
  ws.on('message', (data, isBinary) => {
    const message = parseServerMessage(isBinary ? new Uint8Array(data) : String(data));
    if (message.kind === 'topic') {
      topicMessages++;
      positions.set(message.topic, message.position);
    } else if (message.kind === 'control') {
      const control = message.control;
      if (control.type === 'position') positions.set(control.topic, control);
      else positions.set(control.topic, control.to);
    }
    waiter?.();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(encodeHello(points));
  return {
    positions,
    /** Resolves once `test()` holds. */
    until(test) {
      return new Promise((resolve) => {
        waiter = () => {
          if (test(topicMessages, positions)) resolve();
        };
        waiter();
      });
    },
    close: () =>
      new Promise((resolve) => {
        ws.once('close', resolve);
        ws.close();
      }),
  };
}

const MY_TOPICS = Array.from({ length: 10 }, (_, i) => `my-${i}`);

async function resumeCost(label, base, redis) {
  const control = await admin(base);
  const url = `${base}/t/${MY_TOPICS.join(',')}`;
  const first = await galeSocket(url, []);
  await first.until((_, positions) => positions.size === MY_TOPICS.length);
  let points = [...first.positions].map(([topic, p]) => [topic, p.epoch, p.offset]);
  await first.close();
  log(`${label}: publishing ${OTHERS.toLocaleString('en-US')} messages on 1,000 other topics`);
  await control.ask(`other:${OTHERS}:1000`);
  const cpu = async () => Number(await control.ask('cpu'));
  const redisCpu = async () => {
    if (!redis) return 0;
    const info = execFileSync('redis-cli', ['-p', String(redis.port), 'info', 'cpu'], {
      encoding: 'utf8',
    });
    const read = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1]);
    return (read('used_cpu_sys') + read('used_cpu_user')) * 1e6;
  };
  const samples = { missed: [], none: [], redisMissed: [] };
  for (let i = 0; i < ITERATIONS; i++) {
    for (const missed of [100, 0]) {
      if (missed > 0)
        await control.ask(`publish:${MY_TOPICS.join(',')}:${missed / MY_TOPICS.length}`);
      const a = await cpu();
      const b = await cpu();
      const r0 = await redisCpu();
      const socket = await galeSocket(url, points);
      await socket.until((count) => count === missed);
      const c = await cpu();
      const r1 = await redisCpu();
      // What asking costs (a - b) is taken off once.
      const micros = c - b - (b - a);
      if (missed > 0) {
        samples.missed.push(micros);
        samples.redisMissed.push(r1 - r0);
      } else samples.none.push(micros);
      points = [...socket.positions].map(([topic, p]) => [topic, p.epoch, p.offset]);
      await socket.close();
    }
  }
  control.close();
  return samples;
}

// ---- 3. recovery after kill -9 ----------------------------------------------------------------------

async function recovery(redisUrl) {
  const [a, b] = [await instance({ REDIS_URL: redisUrl }), await instance({ REDIS_URL: redisUrl })];
  const peers = [a, b];
  const ports = [a.port, b.port];
  const proxy = await startTcpProxy(ports);
  const publisher = new RedisBroker({
    url: redisUrl,
    logger: { ...console, warn() {}, info() {} },
  });
  await publisher.ready;
  /** @type {number[]} publish time (performance.now()) by sequence number */
  const sentAt = [];
  const clients = [];
  for (let i = 0; i < RECOVERY_CLIENTS; i++) {
    const client = {
      seqs: [],
      killedAt: null,
      lostAt: null,
      target: null,
      recovered: null,
      connection: null,
    };
    client.connection = await websocketConnect(`ws://127.0.0.1:${proxy.port}/t/r`, {
      reconnect: true,
      resume: true,
      onMessage(message) {
        const s = Number(message);
        client.seqs.push(s);
        // Caught up: it has everything that was published before it was connected again.
        if (client.target !== null && client.recovered === null && s >= client.target) {
          client.recovered = performance.now() - client.killedAt;
        }
      },
    });
    client.connection.addEventListener('reconnecting', () => {
      if (client.killedAt !== null && client.lostAt === null) client.lostAt = performance.now();
    });
    client.connection.addEventListener('reconnect', () => {
      if (client.lostAt !== null && client.target === null) client.target = seq - 1;
    });
    clients.push(client);
  }
  let seq = 0;
  let running = true;
  const publishing = (async () => {
    while (running) {
      const s = seq++;
      sentAt[s] = performance.now();
      await publisher.publish('r', String(s)).catch(() => {});
      await sleep(10);
    }
  })();
  await sleep(500);
  const times = [];
  let lost = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const victim = kill % 2;
    const killedAt = performance.now();
    for (const client of clients) {
      client.killedAt = killedAt;
      client.lostAt = null;
      client.target = null;
      client.recovered = null;
      client.seqs.length = 0;
    }
    peers[victim].child.kill('SIGKILL');
    await sleep(3000);
    const affected = clients.filter((client) => client.lostAt !== null);
    for (const client of affected) {
      if (client.recovered !== null) times.push(client.recovered);
      // Every message from the first one received after the kill on, with no hole.
      for (let i = 1; i < client.seqs.length; i++) {
        if (client.seqs[i] !== client.seqs[i - 1] + 1) lost++;
      }
    }
    log(`recovery, kill ${kill + 1}/${KILLS}: ${affected.length} clients failed over`);
    const port = ports[victim];
    peers[victim] = await startNodePeerOnPort(port, redisUrl);
  }
  running = false;
  await publishing;
  await Promise.all(clients.map((client) => client.connection.close()));
  await publisher.close();
  await proxy.close();
  for (const peer of peers) peer.child.kill('SIGTERM');
  times.sort((x, y) => x - y);
  const pick = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { samples: times.length, p50: pick(0.5), p99: pick(0.99), max: times.at(-1), holes: lost };
}

/** Restarts a resume instance on the port it had (the balancer knows it by that port). */
async function startNodePeerOnPort(port, redisUrl) {
  const { startPeer } = await import('@gale/test-utils');
  const path = new URL('./peers/resume-instance.mjs', import.meta.url).pathname;
  return startPeer(process.execPath, [path, String(port)], { env: { REDIS_URL: redisUrl } });
}

// ---- run -------------------------------------------------------------------------------------------------

const redisServer = await startRedis();
const children = [];
const results = {};
try {
  // 1
  const memOn = await instance({});
  const memOff = await instance({ HISTORY: 'off' });
  children.push(memOn.child, memOff.child);
  const memory = [
    await fanoutSetup('1 instance, in-memory, history on', [memOn.base]),
    await fanoutSetup('1 instance, in-memory, history off', [memOff.base]),
  ];
  await inTurns(memory);
  await Promise.all(memory.map((s) => s.close()));
  memOn.child.kill('SIGTERM');
  memOff.child.kill('SIGTERM');
  const redisPair = (env) =>
    Promise.all([
      instance({ REDIS_URL: redisServer.url, ...env }),
      instance({ REDIS_URL: redisServer.url, ...env }),
    ]);
  const on = await redisPair({});
  const off = await redisPair({ HISTORY: 'off' });
  children.push(...on.map((p) => p.child), ...off.map((p) => p.child));
  const twoOn = await fanoutSetup(
    '2 instances, Redis, history on',
    on.map((p) => p.base),
  );
  const twoOff = await fanoutSetup(
    '2 instances, Redis, history off',
    off.map((p) => p.base),
  );
  await inTurns([twoOn, twoOff]);
  await Promise.all([twoOn.close(), twoOff.close()]);
  for (const p of [...on, ...off]) p.child.kill('SIGTERM');
  results.fanout = Object.fromEntries(
    [...memory, twoOn, twoOff].map((s) => [s.label, { median: median(s.rates), rounds: s.rates }]),
  );

  // 2
  const memResume = await instance({});
  children.push(memResume.child);
  results.resumeMemory = await resumeCost('in-memory', memResume.base, null);
  memResume.child.kill('SIGTERM');
  const redisResume = await instance({ REDIS_URL: redisServer.url });
  children.push(redisResume.child);
  results.resumeRedis = await resumeCost('RedisBroker', redisResume.base, redisServer);
  redisResume.child.kill('SIGTERM');
  execFileSync('redis-cli', ['-p', String(redisServer.port), 'flushall']);

  // 3
  results.recovery = await recovery(redisServer.url);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await redisServer.stop();
}

const f = results.fanout;
// The median of the rounds' own ratios (each pair measured back to back), steadier than the ratio
// of the medians on a shared machine.
const ratio = (onLabel, offLabel) =>
  median(f[onLabel].rounds.map((rate, i) => rate / f[offLabel].rounds[i]));
console.log(
  `\nResumable topics on Node ${process.version}, ${describeMachine()}; fan-out of ${MESSAGES} × ` +
    `${SIZE} B to ${SUBSCRIBERS} gale subscribers, median of ${ROUNDS} rounds in turns\n`,
);
console.log(
  markdownTable(
    ['setup', 'history on (deliveries/s)', 'history off', 'on ÷ off (median of rounds)'],
    [
      [
        '1 instance, in-memory',
        '1 instance, in-memory, history on',
        '1 instance, in-memory, history off',
      ],
      ['2 instances, Redis', '2 instances, Redis, history on', '2 instances, Redis, history off'],
    ].map(([label, onLabel, offLabel]) => [
      label,
      formatNumber(f[onLabel].median),
      formatNumber(f[offLabel].median),
      formatRatio(ratio(onLabel, offLabel)),
    ]),
  ),
);
const ms = (micros) => (micros / 1000).toFixed(2);
const p99 = (values) =>
  [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor(values.length * 0.99))];
console.log(
  `\nServer CPU of one resume (10 topics), after ${OTHERS.toLocaleString('en-US')} messages on other topics; ms, median / p99 of ${ITERATIONS}\n`,
);
console.log(
  markdownTable(
    ['broker', '100 missed', 'nothing missed', 'redis-server, 100 missed'],
    [
      ['in-memory', results.resumeMemory, false],
      ['RedisBroker', results.resumeRedis, true],
    ].map(([label, s, withRedis]) => [
      label,
      `${ms(median(s.missed))} / ${ms(p99(s.missed))}`,
      `${ms(median(s.none))} / ${ms(p99(s.none))}`,
      withRedis ? `${ms(median(s.redisMissed))} / ${ms(p99(s.redisMissed))}` : '—',
    ]),
  ),
);
const r = results.recovery;
console.log(
  `\nRecovery after kill -9 (2 instances on Redis, ${RECOVERY_CLIENTS} clients, ${KILLS} kills): ` +
    `${r.samples} failovers, p50 ${r.p50?.toFixed(0)} ms, p99 ${r.p99?.toFixed(0)} ms, max ${r.max?.toFixed(0)} ms; ` +
    `holes in what they received: ${r.holes}`,
);
writeResults('resume', {
  node: process.version,
  subscribers: SUBSCRIBERS,
  messages: MESSAGES,
  size: SIZE,
  results,
});
