import { connect, createServer, type Server, type Socket } from 'node:net';
import { frameMessage, type Position, type SubscriptionStart } from '@gale/server/broker';
import {
  freePort,
  type RedisClusterProcess,
  type RedisProcess,
  startRedis,
  startRedisCluster,
  until,
} from '@gale/test-utils';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  connectRedis,
  RedisBroker,
  type RedisBrokerOptions,
} from '../src/index.ts';
import { type Recorder, recorder } from './recorder.ts';

// Brokers on one real redis-server, and on a real Redis Cluster (3 primaries, 3 replicas), stand
// for instances of an app; each test has its own prefix.
let redis: RedisProcess;
let cluster: RedisClusterProcess;
let probe: Redis;
let clusterProbe: Cluster;
const brokers: RedisBroker[] = [];
const quiet = { info() {}, warn() {}, error() {} };
let prefixes = 0;

beforeAll(async () => {
  // One after the other: if the cluster cannot start, afterAll still stops the server.
  redis = await startRedis();
  cluster = await startRedisCluster();
  probe = new Redis(redis.url, { retryStrategy: () => 50 });
  clusterProbe = connectRedis(cluster.url) as Cluster;
  // The tests stop Redis on purpose: without a listener, ioredis prints every failed reconnection
  // as "[ioredis] Unhandled error event", which reads like a failure. The tests check the brokers.
  for (const client of [probe, clusterProbe]) {
    client.on('error', () => {});
    client.on('node error', () => {});
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(brokers.map((broker) => broker.close()));
  probe?.disconnect();
  clusterProbe?.disconnect();
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

/** Where the brokers of a test connect, and how the test looks into it. */
interface Target {
  readonly name: string;
  url(): string;
  /** Runs key commands (on the key's node, for the cluster). */
  probe(): Redis | Cluster;
  /** How many connections subscribe to `channel` (sharded pub/sub, or classic), on every node. */
  subscriptions(channel: string, sharded?: boolean): Promise<number>;
  /** Empties Redis, as a restart without persistence would. */
  flush(): Promise<void>;
}

const single: Target = {
  name: 'one Redis',
  url: () => redis.url,
  probe: () => probe,
  async subscriptions(channel, sharded = true) {
    const reply = sharded
      ? await probe.pubsub('SHARDNUMSUB', channel)
      : await probe.pubsub('NUMSUB', channel);
    return Number((reply as [string, number])[1]);
  },
  async flush() {
    await probe.flushall();
  },
};

const onCluster: Target = {
  name: 'Redis Cluster',
  url: () => cluster.url,
  probe: () => clusterProbe,
  async subscriptions(channel, sharded = true) {
    let count = 0;
    for (const port of cluster.ports) {
      const reply = await cluster.cli(port, 'pubsub', sharded ? 'shardnumsub' : 'numsub', channel);
      count += Number(reply.trim().split('\n')[1]);
    }
    return count;
  },
  async flush() {
    await Promise.all(clusterProbe.nodes('master').map((node) => node.flushall()));
  },
};

/** The target of the tests in the current `describe.each` (one Redis outside them). */
let target: Target = single;

async function instance(
  prefix: string,
  options: Partial<RedisBrokerOptions> = {},
): Promise<RedisBroker> {
  const broker = new RedisBroker({ url: target.url(), prefix, logger: quiet, ...options });
  brokers.push(broker);
  await broker.ready;
  return broker;
}

const newPrefix = (): string => `t${++prefixes}:`;

const frame = (message: string | Uint8Array | object) => Buffer.concat(frameMessage(message));
const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Publishes texts `${label}1`…`${label}${count}` in order, one at a time. */
async function publishAll(
  broker: RedisBroker,
  topic: string,
  count: number,
  label = 'm',
): Promise<Position[]> {
  const positions: Position[] = [];
  for (let i = 1; i <= count; i++) positions.push(await broker.publish(topic, `${label}${i}`));
  return positions;
}

/** A TCP proxy to Redis that a test can cut (and refuse new connections) and restore. */
async function redisProxy(): Promise<{
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(redis.port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.each([single, onCluster])('RedisBroker on $name', (each) => {
  beforeAll(() => {
    target = each;
  });
  afterAll(() => {
    target = single;
  });

  describe('delivery', () => {
    it('delivers a message published on one instance to subscribers on both, in order, with its position', async () => {
      const prefix = newPrefix();
      const [a, b] = [await instance(prefix), await instance(prefix)];
      const onA = recorder();
      const onB = recorder();
      const publisher = recorder();
      const startA = await a.subscribe('room', onA);
      await a.subscribe('room', publisher);
      await b.subscribe('room', onB);
      expect(startA).toEqual({
        status: 'fresh',
        position: { epoch: expect.any(String), offset: 0 },
      });
      expect(onA.starts()).toEqual([startA]);
      const epoch = startA.position.epoch;

      const hello = await a.publish('room', 'hello', { exclude: publisher });
      expect(hello).toEqual({ epoch, offset: 1 });
      await a.publish('room', new Uint8Array([0, 1, 255]));
      await b.publish('room', { type: 'joined', nickname: 'ada' });
      const expected = [
        frame('hello'),
        frame(new Uint8Array([0, 1, 255])),
        frame({ type: 'joined', nickname: 'ada' }),
      ];
      await until(() => onB.frames.length === 3 && publisher.events.length === 4, 'deliveries');
      await until(() => onA.frames.length === 3, 'deliveries on A');
      expect(onA.frames).toEqual(expected);
      expect(onB.frames).toEqual(expected);
      expect(onB.offsets()).toEqual([1, 2, 3]);
      // exclude survives the round trip through Redis: the publisher is told it was skipped.
      expect(publisher.events.slice(1)).toEqual([
        { type: 'skipped', position: { epoch, offset: 1 } },
        { type: 'message', position: { epoch, offset: 2 }, message: expect.any(Uint8Array) },
        {
          type: 'message',
          position: { epoch, offset: 3 },
          message: '{"type":"joined","nickname":"ada"}',
        },
      ]);
      expect(a.stats).toMatchObject({ published: 2, received: 3, dropped: 0 });
      expect(b.stats).toMatchObject({ published: 1, received: 3, dropped: 0 });
    });

    it('keeps topics apart, and leaves the Redis channel when the last local subscriber goes', async () => {
      const prefix = newPrefix();
      const [a, b] = [await instance(prefix), await instance(prefix)];
      const news = recorder();
      const sport = recorder();
      await b.subscribe('news', news);
      await b.subscribe('sport', sport);
      await a.publish('news', 'n1');
      await until(() => news.frames.length === 1, 'n1');
      expect(news.frames).toEqual([frame('n1')]);
      expect(sport.frames).toEqual([]);

      const subscribers = () => target.subscriptions(`${prefix}{sport}`);
      expect(await subscribers()).toBe(1);
      await b.unsubscribe('sport', sport);
      expect(await subscribers()).toBe(0);
      await a.publish('sport', 's1');
      await a.publish('news', 'n2');
      await until(() => news.frames.length === 2, 'n2');
      expect(news.texts()).toEqual(['n1', 'n2']);
      expect(sport.frames).toEqual([]);
    });

    it('numbers a topic contiguously while two instances publish to it at once', async () => {
      const prefix = newPrefix();
      const [a, b] = [await instance(prefix), await instance(prefix)];
      const onA = recorder();
      const onB = recorder();
      await a.subscribe('count', onA);
      await b.subscribe('count', onB);
      const positions = await Promise.all([
        ...range(1, 150).map((i) => a.publish('count', `a${i}`)),
        ...range(1, 150).map((i) => b.publish('count', `b${i}`)),
      ]);
      const epochs = new Set(positions.map((position) => position.epoch));
      expect(epochs.size).toBe(1);
      expect(positions.map((position) => position.offset).sort((x, y) => x - y)).toEqual(
        range(1, 300),
      );
      // Each instance's own messages keep the order it published them in.
      const ofA = positions.slice(0, 150).map((position) => position.offset);
      expect(ofA).toEqual([...ofA].sort((x, y) => x - y));
      await until(() => onA.offsets().length === 300 && onB.offsets().length === 300, 'all 300');
      // Every subscriber, on either instance, sees the topic in offset order.
      expect(onA.offsets()).toEqual(range(1, 300));
      expect(onB.offsets()).toEqual(range(1, 300));
      expect(onA.texts()).toEqual(onB.texts());
    });
  });

  describe('history', () => {
    it('trims by count, exactly', async () => {
      const prefix = newPrefix();
      const a = await instance(prefix, { history: { maxCount: 3 } });
      const [first] = await publishAll(a, 'log', 5);
      expect(await target.probe().xlen(`${prefix}{log}:s`)).toBe(3);
      const late = recorder();
      const start = await a.subscribe('log', late, { after: { epoch: first!.epoch, offset: 0 } });
      expect(start).toEqual({
        status: 'gap',
        from: { epoch: first!.epoch, offset: 0 },
        position: { epoch: first!.epoch, offset: 2 },
      });
      expect(late.texts()).toEqual(['m3', 'm4', 'm5']);
      expect(late.offsets()).toEqual([3, 4, 5]);
      expect(a.stats.replayed).toBe(3);
    });

    it('trims by age, on the clock it is given, when publishing and when reading', async () => {
      const prefix = newPrefix();
      let now = 1_000_000;
      const a = await instance(prefix, { history: { maxAge: 60_000 }, now: () => now });
      const [first] = await publishAll(a, 'aged', 1, 'old');
      now += 30_000;
      await a.publish('aged', 'middle');
      now += 40_000; // "old" is 70 s old, "middle" 40 s
      await a.publish('aged', 'new');
      expect(await target.probe().xlen(`${prefix}{aged}:s`)).toBe(2);
      const epoch = first!.epoch;
      const one = recorder();
      expect(await a.subscribe('aged', one, { after: { epoch, offset: 0 } })).toEqual({
        status: 'gap',
        from: { epoch, offset: 0 },
        position: { epoch, offset: 1 },
      });
      expect(one.texts()).toEqual(['middle', 'new']);

      // No publish since: "middle" (now 65 s old) is still in the stream, but a read skips it.
      now += 25_000;
      const two = recorder();
      expect(await a.subscribe('aged', two, { after: { epoch, offset: 1 } })).toEqual({
        status: 'gap',
        from: { epoch, offset: 1 },
        position: { epoch, offset: 2 },
      });
      expect(two.texts()).toEqual(['new']);
      // The stream expires with its newest entry; the epoch and head outlive it (a day at least).
      expect(await target.probe().pttl(`${prefix}{aged}:s`)).toBeLessThanOrEqual(60_000);
      expect(await target.probe().pttl(`${prefix}{aged}:m`)).toBeGreaterThan(86_000_000);
    });

    it('trims by payload bytes, text and binary alike', async () => {
      const prefix = newPrefix();
      const a = await instance(prefix, { history: { maxBytes: 10 } });
      await a.publish('sized', 'aaaa');
      await a.publish('sized', new Uint8Array(4));
      await a.publish('sized', 'cccc'); // 12 bytes: the first goes
      const last = await a.publish('sized', 'é€'); // 2 + 3 UTF-8 bytes: 13, the second goes
      expect(await target.probe().xlen(`${prefix}{sized}:s`)).toBe(2);
      expect(await target.probe().hget(`${prefix}{sized}:m`, 'b')).toBe('9');
      const late = recorder();
      const start = await a.subscribe('sized', late, { after: { epoch: last.epoch, offset: 0 } });
      expect(start).toMatchObject({ status: 'gap', position: { offset: 2 } });
      expect(late.texts()).toEqual(['cccc', 'é€']);
      // A message larger than maxBytes is not kept at all.
      await a.publish('sized', 'x'.repeat(11));
      expect(await target.probe().xlen(`${prefix}{sized}:s`)).toBe(0);
    });

    it('keeps only the latest value of a latest topic: a resume gets it alone, with no gap', async () => {
      const prefix = newPrefix();
      const a = await instance(prefix, { history: (topic) => ({ latest: topic === 'stock' }) });
      const [v1] = await publishAll(a, 'stock', 3, 'v');
      const epoch = v1!.epoch;
      expect(await target.probe().xlen(`${prefix}{stock}:s`)).toBe(1);

      const behind = recorder();
      expect(await a.subscribe('stock', behind, { after: v1! })).toEqual({
        status: 'resumed',
        position: { epoch, offset: 2 },
      });
      expect(behind.events.slice(1)).toEqual([
        { type: 'message', position: { epoch, offset: 3 }, message: 'v3' },
      ]);

      const current = recorder();
      expect(await a.subscribe('stock', current, { after: { epoch, offset: 3 } })).toEqual({
        status: 'resumed',
        position: { epoch, offset: 3 },
      });
      expect(current.events).toHaveLength(1);

      const elsewhere = recorder();
      const from = { epoch: 'another-epoch', offset: 7 };
      expect(await a.subscribe('stock', elsewhere, { after: from })).toEqual({
        status: 'gap',
        from,
        position: { epoch, offset: 2 },
      });
      expect(elsewhere.texts()).toEqual(['v3']);
      await a.publish('stock', 'v4');
      await until(() => elsewhere.texts().length === 2, 'v4 live');
      expect(behind.texts()).toEqual(['v3', 'v4']);
    });

    it('with history false keeps nothing but still gives positions, so a resume learns its gap', async () => {
      const prefix = newPrefix();
      const a = await instance(prefix, { history: false });
      const positions = await publishAll(a, 'bare', 3);
      expect(positions.map((position) => position.offset)).toEqual([1, 2, 3]);
      expect(await target.probe().exists(`${prefix}{bare}:s`)).toBe(0);
      const epoch = positions[0]!.epoch;
      const late = recorder();
      expect(await a.subscribe('bare', late, { after: positions[0]! })).toEqual({
        status: 'gap',
        from: positions[0],
        position: { epoch, offset: 3 },
      });
      expect(await a.subscribe('bare', recorder(), { after: positions[2]! })).toEqual({
        status: 'resumed',
        position: positions[2],
      });
      expect(await a.subscribe('bare', recorder())).toEqual({
        status: 'fresh',
        position: positions[2],
      });
      expect(late.offsets()).toEqual([]);
    });

    it('rejects a history policy it cannot keep', () => {
      expect(
        () => new RedisBroker({ url: redis.url, logger: quiet, history: { maxCount: -1 } }),
      ).toThrow(RangeError);
    });
  });

  describe('resuming', () => {
    it('starts fresh at the head, resumes exactly, and reports partial and whole losses as gaps', async () => {
      const prefix = newPrefix();
      const [a, b] = [await instance(prefix), await instance(prefix)];
      const positions = await publishAll(a, 'chat', 4);
      const epoch = positions[0]!.epoch;

      const fresh = recorder();
      expect(await b.subscribe('chat', fresh)).toEqual({
        status: 'fresh',
        position: { epoch, offset: 4 },
      });
      expect(fresh.events).toHaveLength(1);

      // On the other instance: every message after the position, in order, then live ones.
      const back = recorder();
      expect(await b.subscribe('chat', back, { after: positions[1]! })).toEqual({
        status: 'resumed',
        position: positions[1],
      });
      expect(back.events.slice(1)).toEqual([
        { type: 'message', position: { epoch, offset: 3 }, message: 'm3' },
        { type: 'message', position: { epoch, offset: 4 }, message: 'm4' },
      ]);
      await a.publish('chat', 'm5');
      await until(() => back.offsets().length === 3 && fresh.offsets().length === 1, 'm5');
      expect(back.offsets()).toEqual([3, 4, 5]);
      expect(fresh.offsets()).toEqual([5]);

      // Nothing missed.
      const current = recorder();
      expect(await b.subscribe('chat', current, { after: { epoch, offset: 5 } })).toEqual({
        status: 'resumed',
        position: { epoch, offset: 5 },
      });

      // Partly lost: the oldest kept is not the one right after the position.
      await target.probe().xtrim(`${prefix}{chat}:s`, 'MINID', '4-0');
      const partly = recorder();
      expect(await b.subscribe('chat', partly, { after: { epoch, offset: 1 } })).toEqual({
        status: 'gap',
        from: { epoch, offset: 1 },
        position: { epoch, offset: 3 },
      });
      expect(partly.offsets()).toEqual([4, 5]);

      // The history was lost (FLUSHALL): a new epoch; a resume from the old one is a gap to the
      // start of the kept part of the new one.
      await target.flush();
      const [n1] = await publishAll(a, 'chat', 2, 'n');
      expect(n1!.epoch).not.toBe(epoch);
      expect(n1!.offset).toBe(1);
      const after = recorder();
      expect(await b.subscribe('chat', after, { after: { epoch, offset: 5 } })).toEqual({
        status: 'gap',
        from: { epoch, offset: 5 },
        position: { epoch: n1!.epoch, offset: 0 },
      });
      expect(after.texts()).toEqual(['n1', 'n2']);
      // The subscribers that were live learned of it when the new epoch's first message came.
      await until(() => current.offsets().length === 2, 'n1 and n2 on a live subscriber');
      expect(current.events.slice(1)).toEqual([
        {
          type: 'started',
          start: {
            status: 'gap',
            from: { epoch, offset: 5 },
            position: { epoch: n1!.epoch, offset: 0 },
          },
        },
        { type: 'message', position: { epoch: n1!.epoch, offset: 1 }, message: 'n1' },
        { type: 'message', position: { epoch: n1!.epoch, offset: 2 }, message: 'n2' },
      ]);
    });

    it('has no gap and no duplicate at the seam while another instance publishes without pause', async () => {
      const prefix = newPrefix();
      const [a, b] = [await instance(prefix), await instance(prefix)];
      const [first] = await publishAll(b, 'busy', 10);
      const epoch = first!.epoch;
      let running = true;
      let sent = 10;
      /** The highest offset Redis confirmed. */
      let confirmed = 10;
      // Up to 16 publishes in flight at all times, from the other instance.
      const publishers = Array.from({ length: 16 }, async () => {
        while (running) {
          const { offset } = await b.publish('busy', `m${++sent}`);
          confirmed = Math.max(confirmed, offset);
        }
      });
      const subscribers: { recorder: Recorder; start: SubscriptionStart }[] = [];
      for (let i = 0; i < 30; i++) {
        const subscriber = recorder();
        // Resume from a point in the past, from the head, or fresh; while publishes race the read.
        const after =
          i % 3 === 2
            ? undefined
            : { epoch, offset: i % 3 === 0 ? Math.max(0, confirmed - 40) : confirmed };
        const start = await a.subscribe('busy', subscriber, { after });
        subscribers.push({ recorder: subscriber, start });
        await until(() => sent > 10 + (i + 1) * 8, 'more publishes');
      }
      running = false;
      await Promise.all(publishers);
      const head = sent;
      // (One that started at the head itself may have received nothing.)
      await until(
        () =>
          subscribers.every(
            ({ recorder: r, start }) => (r.offsets().at(-1) ?? start.position.offset) === head,
          ),
        'every subscriber at the head',
      );
      for (const { recorder: subscriber, start } of subscribers) {
        expect(start.status).not.toBe('gap');
        expect(subscriber.events[0]).toEqual({ type: 'started', start });
        expect(subscriber.offsets()).toEqual(range(start.position.offset + 1, head));
      }
    });

    it('forgets a subscription cancelled while it starts', async () => {
      const prefix = newPrefix();
      const a = await instance(prefix);
      const subscriber = recorder();
      const starting = a.subscribe('brief', subscriber);
      await a.unsubscribe('brief', subscriber);
      // The promise still settles, with where the topic was; the subscriber heard nothing.
      expect(await starting).toMatchObject({ status: 'fresh' });
      await a.publish('brief', 'unheard');
      const other = recorder();
      await a.subscribe('other', other);
      await a.publish('other', 'heard');
      await until(() => other.offsets().length === 1, 'a message on another topic');
      expect(subscriber.events).toEqual([]);
      expect(await target.subscriptions(`${prefix}{brief}`)).toBe(0);
    });

    it('lets a subscription wait for the first connection, and rejects it if the broker closes first', async () => {
      const broker = new RedisBroker({
        url: `redis://127.0.0.1:${await freePort()}`,
        logger: quiet,
      });
      const subscriber = recorder();
      const starting = broker.subscribe('never', subscriber);
      await broker.close();
      await expect(starting).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(broker.publish('never', 'x')).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(subscriber.events).toEqual([]);
    });
  });
});

describe('RedisBroker on one Redis: losing Redis', () => {
  it('replays from the stream what a subscriber connection missed while it was cut, or reports the gap', async () => {
    const prefix = newPrefix();
    const proxy = await redisProxy();
    try {
      const a = await instance(prefix, {
        history: (topic) => (topic === 'trimmed' ? { maxCount: 3 } : {}),
      });
      const b = new RedisBroker({ url: proxy.url, prefix, logger: quiet });
      brokers.push(b);
      await b.ready;
      let reconnected = 0;
      b.onReconnect(() => reconnected++);
      const kept = recorder();
      const trimmed = recorder();
      const excluded = recorder();
      await b.subscribe('kept', kept);
      await b.subscribe('kept', excluded);
      await b.subscribe('trimmed', trimmed);
      const [k1] = await publishAll(a, 'kept', 2, 'k');
      const [t1] = await publishAll(a, 'trimmed', 2, 't');
      await until(() => kept.offsets().length === 2 && trimmed.offsets().length === 2, 'live');

      proxy.cut();
      // B's publisher is cut too: its publish fails and reaches no one.
      await expect(
        (async () => {
          for (;;) await b.publish('kept', 'from B while cut');
        })(),
      ).rejects.toBeInstanceOf(BrokerUnavailableError);
      await publishAll(a, 'kept', 3, 'k-missed-');
      await publishAll(a, 'trimmed', 6, 't-missed-');
      proxy.restore();
      await until(() => reconnected === 1, 'B reconnected');
      await until(
        () => kept.offsets().length === 5 && trimmed.offsets().length === 5,
        'the catch-up',
      );
      expect(kept.texts()).toEqual(['k1', 'k2', 'k-missed-1', 'k-missed-2', 'k-missed-3']);
      expect(kept.offsets()).toEqual([1, 2, 3, 4, 5]);
      expect(kept.starts()).toHaveLength(1); // no gap
      expect(excluded.offsets()).toEqual([1, 2, 3, 4, 5]);
      // Only the last 3 of "trimmed" were kept: the 3 before them are a gap.
      expect(trimmed.events.slice(3)).toEqual([
        {
          type: 'started',
          start: {
            status: 'gap',
            from: { epoch: t1!.epoch, offset: 2 },
            position: { epoch: t1!.epoch, offset: 5 },
          },
        },
        { type: 'message', position: { epoch: t1!.epoch, offset: 6 }, message: 't-missed-4' },
        { type: 'message', position: { epoch: t1!.epoch, offset: 7 }, message: 't-missed-5' },
        { type: 'message', position: { epoch: t1!.epoch, offset: 8 }, message: 't-missed-6' },
      ]);
      expect(b.stats.replayed).toBe(6);

      // Live again, exclude included.
      await b.publish('kept', 'k6', { exclude: excluded });
      await until(() => kept.offsets().length === 6 && excluded.events.length === 7, 'k6');
      expect(kept.texts().at(-1)).toBe('k6');
      expect(excluded.events.at(-1)).toEqual({
        type: 'skipped',
        position: { epoch: k1!.epoch, offset: 6 },
      });
    } finally {
      await proxy.close();
    }
  });

  it('while Redis is down: publish rejects and nothing is delivered; restarted empty, every live subscriber learns of the gap', async () => {
    const prefix = newPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    const onA = recorder();
    const onB = recorder();
    await a.subscribe('room', onA);
    await b.subscribe('room', onB);
    const [, before] = await publishAll(a, 'room', 2);
    await until(() => onA.offsets().length === 2 && onB.offsets().length === 2, 'before');
    const reconnected = { a: 0, b: 0 };
    a.onReconnect(() => reconnected.a++);
    b.onReconnect(() => reconnected.b++);

    await redis.stop();
    // Let the publisher notice the loss; every publish meanwhile is dropped.
    await expect
      .poll(() =>
        a.publish('room', 'probe').then(
          () => 'sent',
          (e: unknown) => e,
        ),
      )
      .toBeInstanceOf(BrokerUnavailableError);
    const error = await a.publish('room', 'during the outage').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).topic).toBe('room');
    expect(a.stats.dropped).toBeGreaterThanOrEqual(2);
    // An un-awaited publish while down must not crash the process (the promise is handled).
    void a.publish('room', 'ignored by its caller');
    // A subscription fails at once too: the handler can tell its client to come back later.
    const late = recorder();
    await expect(b.subscribe('late', late)).rejects.toBeInstanceOf(BrokerUnavailableError);

    await redis.start(); // empty, as after a crash
    await until(() => reconnected.a === 1 && reconnected.b === 1, 'both reconnected');
    await until(() => onA.starts().length === 2 && onB.starts().length === 2, 'the gaps');
    for (const subscriber of [onA, onB]) {
      const gap = subscriber.starts()[1]!;
      expect(gap).toMatchObject({ status: 'gap', from: before, position: { offset: 0 } });
      expect(gap.position.epoch).not.toBe(before!.epoch);
      // Nothing published during the outage reached anyone.
      expect(subscriber.texts()).toEqual(['m1', 'm2']);
    }
    expect(await b.subscribe('late', late)).toMatchObject({
      status: 'fresh',
      position: { offset: 0 },
    });
    const after = await a.publish('room', 'after the restart');
    expect(after).toEqual({ epoch: onB.starts()[1]!.position.epoch, offset: 1 });
    await until(() => onA.offsets().length === 3 && onB.offsets().length === 3, 'after');
    expect(onB.texts().at(-1)).toBe('after the restart');
    await a.publish('late', 'for the late subscriber');
    await until(() => late.texts().length === 1, 'late');
  });
});
