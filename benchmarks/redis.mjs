// Cross-instance fan-out through Redis: deliveries/s to 2 instances × 500 subscribers, beside one
// instance with 1,000 subscribers (in-memory broker, and RedisBroker alone). Each instance is its
// own process; redis-server is started on a free port; the subscribers are @gale/client
// connections in this process. One publisher connection on the first instance asks it to publish
// N messages; a round ends when every subscriber has all of them.
//
//   pnpm --filter @gale/benchmarks bench:redis      (after pnpm build)
//
// Environment: BENCH_MESSAGES=200, BENCH_SIZE=32, BENCH_ROUNDS=5, BENCH_SUBSCRIBERS=1000.
import { websocketConnect } from '@gale/client';
import { startRedis } from '@gale/test-utils';
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

const MESSAGES = numberFromEnv('BENCH_MESSAGES', 200);
const SIZE = numberFromEnv('BENCH_SIZE', 32);
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 5);
const SUBSCRIBERS = numberFromEnv('BENCH_SUBSCRIBERS', 1000);
const count = (/** @type {number} */ n) => n.toLocaleString('en-US');

async function startInstance(env) {
  const peer = await startNodePeer('redis-instance.mjs', { env });
  return { ...peer, url: `ws://127.0.0.1:${peer.port}/fanout` };
}

async function scenario(name, instances) {
  const perInstance = SUBSCRIBERS / instances.length;
  let received = 0;
  let target = 0;
  let done = () => {};
  const subscribers = [];
  for (const { url } of instances) {
    for (let i = 0; i < perInstance; i++) {
      subscribers.push(
        await websocketConnect(url, {
          onMessage() {
            if (++received === target) done();
          },
        }),
      );
    }
  }
  const publisher = await websocketConnect(instances[0].url, { onMessage() {} });
  // Every subscription is confirmed before timing: one warm-up round that must reach everyone.
  const rates = [];
  for (let round = 0; round <= ROUNDS; round++) {
    received = 0;
    target = MESSAGES * SUBSCRIBERS;
    const finished = new Promise((resolve) => {
      done = resolve;
    });
    const started = process.hrtime.bigint();
    await publisher.writeMessage(`publish:${MESSAGES}:${SIZE}`);
    await finished;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (round > 0) rates.push(target / seconds);
    process.stderr.write(
      `${name}, round ${round}/${ROUNDS}: ${(target / seconds).toFixed(0)} deliveries/s\n`,
    );
  }
  await Promise.all([publisher, ...subscribers].map((c) => c.close()));
  rates.sort((a, b) => a - b);
  return { median: median(rates), best: rates.at(-1), rounds: rates };
}

const redis = await startRedis();
const results = {};
const children = [];
try {
  const single = await startInstance({ REDIS_URL: '' });
  children.push(single.child);
  results.memory = await scenario(`1 instance × ${SUBSCRIBERS}, in-memory broker`, [single]);
  single.child.kill('SIGTERM');

  const alone = await startInstance({ REDIS_URL: redis.url });
  children.push(alone.child);
  results.redisSingle = await scenario(`1 instance × ${SUBSCRIBERS}, RedisBroker`, [alone]);
  alone.child.kill('SIGTERM');

  const a = await startInstance({ REDIS_URL: redis.url });
  const b = await startInstance({ REDIS_URL: redis.url });
  children.push(a.child, b.child);
  results.redisTwo = await scenario(`2 instances × ${SUBSCRIBERS / 2}, RedisBroker`, [a, b]);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await redis.stop();
}

console.log(
  `\n@gale/redis fan-out on Node ${process.version}, ${describeMachine()}; ` +
    `${MESSAGES} × ${SIZE} B messages per round to ${SUBSCRIBERS} subscribers, ` +
    `median of ${ROUNDS} rounds\n`,
);
const setups = [
  [`1 instance × ${count(SUBSCRIBERS)} subscribers, in-memory broker`, 'memory'],
  [`1 instance × ${count(SUBSCRIBERS)} subscribers, RedisBroker`, 'redisSingle'],
  [`2 instances × ${count(SUBSCRIBERS / 2)} subscribers, RedisBroker (cross-instance)`, 'redisTwo'],
];
console.log(
  markdownTable(
    ['setup', 'deliveries/s (median)', 'best', '÷ 1 instance, in-memory'],
    setups.map(([label, key]) => {
      const r = results[key];
      return [
        label,
        formatNumber(r.median),
        formatNumber(r.best),
        formatRatio(r.median / results.memory.median),
      ];
    }),
  ),
);
writeResults('redis', {
  node: process.version,
  messages: MESSAGES,
  size: SIZE,
  subscribers: SUBSCRIBERS,
  results,
});
