// RedisBroker on a Redis Cluster: cross-instance fan-out deliveries/s with 3 instances on a
// cluster (3 primaries, 3 replicas; sharded pub/sub, then classic), beside 2 instances on one
// redis-server (sharded, then classic: on one server they should cost the same); and the CPU the
// Redis nodes spend (INFO cpu, used_cpu_sys + used_cpu_user, read with redis-cli before and after
// the timed rounds, less what each node spends idle, measured for BENCH_REDIS_IDLE_MS before them)
// per published message and per delivery. Each instance is its own process;
// the subscribers are @gale/client connections in this process, spread over BENCH_TOPICS topics
// (so over the cluster's primaries). One publisher connection on the first instance asks it to
// publish N messages to every topic; a round ends when every subscriber has all of its topic's.
//
//   pnpm --filter @gale/benchmarks bench:redis-cluster      (after pnpm build)
//
// Environment: BENCH_MESSAGES=200 (per topic and round), BENCH_SIZE=32, BENCH_ROUNDS=5,
// BENCH_SUBSCRIBERS=1200, BENCH_TOPICS=12, BENCH_REDIS_IDLE_MS=2000.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { websocketConnect } from '@gale/client';
import { startRedis, startRedisCluster } from '@gale/test-utils';
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

const run = promisify(execFile);
const MESSAGES = numberFromEnv('BENCH_MESSAGES', 200);
const SIZE = numberFromEnv('BENCH_SIZE', 32);
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 5);
const SUBSCRIBERS = numberFromEnv('BENCH_SUBSCRIBERS', 1200);
const TOPIC_COUNT = numberFromEnv('BENCH_TOPICS', 12);
const IDLE_MS = numberFromEnv('BENCH_REDIS_IDLE_MS', 2000);
const TOPICS = Array.from({ length: TOPIC_COUNT }, (_, i) => `topic-${i}`);
const count = (/** @type {number} */ n) => n.toLocaleString('en-US');

/** CPU seconds (user + system) redis-server on `port` has used so far. */
async function redisCpu(port) {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'cpu']);
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(stdout)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

async function startInstance(env) {
  const peer = await startNodePeer('redis-instance.mjs', { env });
  return { ...peer, url: `ws://127.0.0.1:${peer.port}/fanout` };
}

/**
 * Fan-out through `instances` (subscribers spread evenly over them and over the topics), with
 * the CPU of the Redis nodes on `ports` over the timed rounds.
 */
async function scenario(name, instances, ports) {
  let received = 0;
  let target = 0;
  let done = () => {};
  const subscribers = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const { url } = instances[i % instances.length];
    const topic = TOPICS[Math.floor(i / instances.length) % TOPICS.length];
    subscribers.push(
      await websocketConnect(`${url}/${topic}`, {
        onMessage() {
          if (++received === target) done();
        },
      }),
    );
  }
  const publisher = await websocketConnect(instances[0].url, { onMessage() {} });
  // What the nodes spend doing nothing (cron, cluster gossip), per second, to leave out.
  const idleFrom = await Promise.all(ports.map(redisCpu));
  const idleStarted = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const idleTo = await Promise.all(ports.map(redisCpu));
  const idleSeconds = Number(process.hrtime.bigint() - idleStarted) / 1e9;
  const idle = ports.map((_, i) => (IDLE_MS > 0 ? (idleTo[i] - idleFrom[i]) / idleSeconds : 0));
  const rates = [];
  let cpuBefore = [];
  let timedFrom = 0n;
  let seconds = 0;
  // Round 0 warms up, and proves every subscription is in place: it must reach everyone.
  for (let round = 0; round <= ROUNDS; round++) {
    if (round === 1) {
      cpuBefore = await Promise.all(ports.map(redisCpu));
      timedFrom = process.hrtime.bigint();
    }
    received = 0;
    target = MESSAGES * SUBSCRIBERS;
    const finished = new Promise((resolve) => {
      done = resolve;
    });
    const started = process.hrtime.bigint();
    await publisher.writeMessage(`publish:${MESSAGES}:${SIZE}:${TOPICS.join(',')}`);
    await finished;
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    if (round > 0) {
      rates.push(target / elapsed);
      seconds += elapsed;
    }
    process.stderr.write(
      `${name}, round ${round}/${ROUNDS}: ${(target / elapsed).toFixed(0)} deliveries/s\n`,
    );
  }
  const cpuAfter = await Promise.all(ports.map(redisCpu));
  const timed = Number(process.hrtime.bigint() - timedFrom) / 1e9;
  await Promise.all([publisher, ...subscribers].map((c) => c.close()));
  const cpu = ports.map((port, i) => ({
    port,
    seconds: Math.max(0, cpuAfter[i] - cpuBefore[i] - idle[i] * timed),
    idlePerSecond: idle[i],
  }));
  const cpuTotal = cpu.reduce((sum, node) => sum + node.seconds, 0);
  const published = ROUNDS * MESSAGES * TOPIC_COUNT;
  const deliveries = ROUNDS * MESSAGES * SUBSCRIBERS;
  rates.sort((a, b) => a - b);
  return {
    median: median(rates),
    best: rates.at(-1),
    rounds: rates,
    seconds,
    cpu,
    cpuPerPublishUs: (cpuTotal / published) * 1e6,
    cpuPerDeliveryNs: (cpuTotal / deliveries) * 1e9,
    busiestNodePerPublishUs: (Math.max(...cpu.map((node) => node.seconds)) / published) * 1e6,
  };
}

const redis = await startRedis();
const cluster = await startRedisCluster().catch(async (error) => {
  await redis.stop();
  throw error;
});
const results = {};
const children = [];
const setups = [
  ['singleSharded', `2 instances, one Redis, sharded pub/sub`, redis.url, '1', 2, [redis.port]],
  ['singleClassic', `2 instances, one Redis, classic pub/sub`, redis.url, '0', 2, [redis.port]],
  [
    'clusterSharded',
    `3 instances, Redis Cluster, sharded pub/sub`,
    cluster.url,
    '1',
    3,
    cluster.ports,
  ],
  [
    'clusterClassic',
    `3 instances, Redis Cluster, classic pub/sub`,
    cluster.url,
    '0',
    3,
    cluster.ports,
  ],
];
try {
  for (const [key, label, url, sharded, n, ports] of setups) {
    const instances = [];
    for (let i = 0; i < n; i++) {
      const instance = await startInstance({ REDIS_URL: url, REDIS_SHARDED: sharded });
      children.push(instance.child);
      instances.push(instance);
    }
    results[key] = await scenario(label, instances, ports);
    for (const instance of instances) instance.child.kill('SIGTERM');
  }
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all([redis.stop(), cluster.stop()]);
}

console.log(
  `\n@gale/redis on a Redis Cluster (3 primaries + 3 replicas) and on one Redis, Node ` +
    `${process.version}, ${describeMachine()}; ${MESSAGES} × ${SIZE} B messages per topic and ` +
    `round, ${TOPIC_COUNT} topics, ${count(SUBSCRIBERS)} subscribers, median of ${ROUNDS} rounds\n`,
);
console.log(
  markdownTable(
    [
      'setup',
      'deliveries/s (median)',
      'best',
      '÷ one Redis, sharded',
      'Redis CPU µs / publish (all nodes)',
      'busiest node µs / publish',
      'Redis CPU ns / delivery',
    ],
    setups.map(([key, label]) => {
      const r = results[key];
      return [
        label,
        formatNumber(r.median),
        formatNumber(r.best),
        formatRatio(r.median / results.singleSharded.median),
        r.cpuPerPublishUs.toFixed(1),
        r.busiestNodePerPublishUs.toFixed(1),
        r.cpuPerDeliveryNs.toFixed(1),
      ];
    }),
  ),
);
writeResults('redis-cluster', {
  node: process.version,
  messages: MESSAGES,
  size: SIZE,
  subscribers: SUBSCRIBERS,
  topics: TOPIC_COUNT,
  results,
});
