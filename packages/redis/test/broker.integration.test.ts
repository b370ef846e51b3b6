import { frameMessage, type TopicSubscriber } from '@gale/server/broker';
import { type RedisProcess, startRedis } from '@gale/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerUnavailableError, RedisBroker } from '../src/index.ts';

// Two brokers on one real redis-server stand for two instances of an app.
let redis: RedisProcess;
const brokers: RedisBroker[] = [];
const quiet = { info() {}, warn() {}, error() {} };

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(brokers.map((broker) => broker.close()));
  await redis?.stop();
});

async function instance(prefix = 'test:'): Promise<RedisBroker> {
  const broker = new RedisBroker({ url: redis.url, prefix, logger: quiet });
  brokers.push(broker);
  await broker.ready;
  return broker;
}

/** A subscriber that keeps the frames written to it, as bytes. */
function recorder(): TopicSubscriber & { frames: Buffer[] } {
  const frames: Buffer[] = [];
  return {
    frames,
    deliver(_message, frame) {
      frames.push(Buffer.concat(frame()));
    },
  };
}

const frame = (message: string | Uint8Array | object) => Buffer.concat(frameMessage(message));

describe('RedisBroker', () => {
  it('delivers a message published on one instance to subscribers on both, each exactly once', async () => {
    const [a, b] = [await instance(), await instance()];
    const onA = recorder();
    const onB = recorder();
    const publisher = recorder();
    await a.subscribe('room', onA);
    await a.subscribe('room', publisher);
    await b.subscribe('room', onB);
    await a.publish('room', 'hello', { exclude: publisher });
    await a.publish('room', new Uint8Array([0, 1, 255]));
    await a.publish('room', { type: 'joined', nickname: 'ada' });
    const expected = [
      frame('hello'),
      frame(new Uint8Array([0, 1, 255])),
      frame({ type: 'joined', nickname: 'ada' }),
    ];
    await expect.poll(() => onB.frames).toEqual(expected);
    expect(onA.frames).toEqual(expected);
    // exclude applies on the publishing instance; its own message never comes back from Redis.
    expect(publisher.frames).toEqual(expected.slice(1));
    expect(a.stats).toMatchObject({ published: 3, received: 0, dropped: 0 });
    expect(b.stats.received).toBe(3);
  });

  it('keeps topics apart, and leaves the Redis channel when the last local subscriber goes', async () => {
    const [a, b] = [await instance(), await instance()];
    const news = recorder();
    const sport = recorder();
    await b.subscribe('news', news);
    await b.subscribe('sport', sport);
    await a.publish('news', 'n1');
    await expect.poll(() => news.frames).toEqual([frame('n1')]);
    expect(sport.frames).toEqual([]);

    const probe = new Redis(redis.url);
    const subscribers = async () =>
      ((await probe.pubsub('NUMSUB', 'test:sport')) as [string, number])[1];
    expect(await subscribers()).toBe(1);
    await b.unsubscribe('sport', sport);
    expect(await subscribers()).toBe(0);
    await a.publish('sport', 's1');
    await a.publish('news', 'n2');
    await expect.poll(() => news.frames).toEqual([frame('n1'), frame('n2')]);
    expect(sport.frames).toEqual([]);
    probe.disconnect();
  });

  it('while Redis is down: delivers locally, rejects for the others; after a restart, resubscribes and says so', async () => {
    const [a, b] = [await instance('outage:'), await instance('outage:')];
    const onA = recorder();
    const onB = recorder();
    await a.subscribe('room', onA);
    await b.subscribe('room', onB);
    const reconnected = { a: 0, b: 0 };
    a.onReconnect(() => reconnected.a++);
    b.onReconnect(() => reconnected.b++);

    await redis.stop();
    // Let both clients notice the loss before publishing.
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
    expect(onA.frames.at(-1)).toEqual(frame('during the outage')); // local subscribers still got it
    expect(a.stats.dropped).toBeGreaterThanOrEqual(2);
    // An un-awaited publish while down must not crash the process (the promise is handled).
    void a.publish('room', 'ignored by its caller');

    // Subscribing while down does not wait for Redis; the channel follows on reconnection.
    const late = recorder();
    await b.subscribe('late', late);

    await redis.start(); // empty, as after a crash
    await expect.poll(() => reconnected, { timeout: 20_000 }).toEqual({ a: 1, b: 1 });
    await a.publish('room', 'after the restart');
    await expect.poll(() => onB.frames.at(-1)).toEqual(frame('after the restart'));
    await a.publish('late', 'for the late subscriber');
    await expect.poll(() => late.frames).toEqual([frame('for the late subscriber')]);
    // Nothing published during the outage reached B: that is what onReconnect is for.
    expect(onB.frames.map((f) => f.toString('latin1'))).not.toContain(
      frame('during the outage').toString('latin1'),
    );
  });
});
