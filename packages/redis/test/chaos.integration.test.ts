import { fileURLToPath } from 'node:url';
import { type ClientConnection, type GapEvent, websocketConnect } from '@gale/client';
import type { Position } from '@gale/server';
import {
  freePort,
  type PeerProcess,
  type RedisProcess,
  startPeer,
  startRedis,
  startTcpProxy,
  type TcpProxy,
  until,
} from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/index.ts';

// Resumable topics under chaos, with real processes: redis-server, two app instances
// (fixtures/chaos-instance.mjs, RedisBroker) behind a TCP balancer this test owns, 200 gale Node
// clients over 12 topics, and a publisher at a steady rate. After each blow — kill -9 of an
// instance, a rolling restart (1012), every client's TCP cut for 2 s, Redis restarted empty — the
// publisher stops, every client catches up, and for every client and topic: each message
// published while it was subscribed arrived exactly once and in order, or a `gap` event covers
// exactly the messages that did not. (A client that presents no positions on reconnecting fails
// the first three blows: tried by hand, the check is not vacuous.)

const TOPICS = Array.from({ length: 12 }, (_, i) => `topic-${i}`);
const CLIENTS = 200;
const TOPICS_PER_CLIENT = 3;
/** Each topic gets one message per tick. */
const TICK_MS = 50;
const INSTANCE = fileURLToPath(new URL('./fixtures/chaos-instance.mjs', import.meta.url));

interface Published {
  readonly seq: number;
  readonly position: Position;
}

interface Client {
  readonly connection: ClientConnection;
  readonly topics: readonly string[];
  /** Where each topic's subscription first started. */
  readonly start: Map<string, Position>;
  readonly received: Map<string, number[]>;
  readonly gaps: Map<string, { from: Position; to: Position }[]>;
  /** Reconnections so far. */
  reconnects: number;
}

let redis: RedisProcess;
let proxy: TcpProxy;
let publisher: RedisBroker;
const ports: number[] = [];
const instances: (PeerProcess | null)[] = [null, null];
const clients: Client[] = [];
const published = new Map<string, Published[]>(TOPICS.map((topic) => [topic, []]));
/** Messages whose publish failed: Redis may or may not have taken them. */
const uncertain = new Set<number>();
let seq = 0;
/** Publishes that Redis confirmed. */
let confirmed = 0;

async function startInstance(index: number): Promise<void> {
  instances[index] = await startPeer(process.execPath, [INSTANCE, String(ports[index])], {
    env: { REDIS_URL: redis.url },
  });
}

/** Publishes one message per topic every tick until the returned function is called. */
function publishing(): () => Promise<void> {
  let running = true;
  const inflight = new Set<Promise<void>>();
  const tick = (): void => {
    if (!running) return;
    for (const topic of TOPICS) {
      const s = ++seq;
      const done = Promise.resolve(publisher.publish(topic, { t: topic, s })).then(
        (position) => {
          confirmed++;
          published.get(topic)!.push({ seq: s, position });
        },
        () => {
          uncertain.add(s);
        },
      );
      inflight.add(done);
      void done.finally(() => inflight.delete(done));
    }
    setTimeout(tick, TICK_MS);
  };
  tick();
  return async () => {
    running = false;
    await Promise.all(inflight);
  };
}

/**
 * Runs `blow` while publishing, then lets every client catch up and checks every one. Returns how
 * many clients reconnected and how many messages were published while the blow lasted.
 */
async function survive(
  blow: () => Promise<void>,
): Promise<{ reconnected: number; publishedDuring: number }> {
  const stop = publishing();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = clients.map((client) => client.reconnects);
  const confirmedBefore = confirmed;
  await blow();
  const publishedDuring = confirmed - confirmedBefore;
  await new Promise((resolve) => setTimeout(resolve, 300));
  await stop();
  await until(
    () => clients.every((client) => client.topics.every((topic) => caughtUp(client, topic))),
    'every client caught up on every topic',
    30_000,
  );
  for (const client of clients) for (const topic of client.topics) check(client, topic);
  const reconnected = clients.filter((client, i) => client.reconnects > before[i]!).length;
  return { reconnected, publishedDuring };
}

function caughtUp(client: Client, topic: string): boolean {
  const last = published.get(topic)!.at(-1);
  const at = client.connection.positions().get(topic);
  if (client.connection.state !== 'open' || at === undefined) return false;
  return (
    last === undefined || (at.epoch === last.position.epoch && at.offset >= last.position.offset)
  );
}

/** The index in `list` of the first message after `position`. */
function indexAfter(list: readonly Published[], position: Position): number {
  let index = -1;
  let seen = false;
  for (let i = 0; i < list.length; i++) {
    const entry = list[i]!.position;
    if (entry.epoch !== position.epoch) {
      if (seen) break;
      continue;
    }
    if (!seen) index = i;
    seen = true;
    if (entry.offset <= position.offset) index = i + 1;
    else break;
  }
  return seen ? index : list.length;
}

function check(client: Client, topic: string): void {
  const list = published.get(topic)!;
  const covered = new Set<number>();
  for (const gap of client.gaps.get(topic) ?? []) {
    const from = indexAfter(list, gap.from);
    const to = indexAfter(list, gap.to);
    for (let i = from; i < to; i++) covered.add(list[i]!.seq);
  }
  const expected = list
    .slice(indexAfter(list, client.start.get(topic)!))
    .map((entry) => entry.seq)
    .filter((s) => !covered.has(s));
  const received = (client.received.get(topic) ?? []).filter((s) => !uncertain.has(s));
  expect(received, `client ${clients.indexOf(client)}, ${topic}`).toEqual(expected);
}

beforeAll(async () => {
  redis = await startRedis();
  ports.push(await freePort(), await freePort());
  await Promise.all([startInstance(0), startInstance(1)]);
  proxy = await startTcpProxy(ports);
  publisher = new RedisBroker({ url: redis.url, logger: quiet });
  await publisher.ready;
  for (let i = 0; i < CLIENTS; i++) {
    const topics = Array.from(
      { length: TOPICS_PER_CLIENT },
      (_, k) => TOPICS[(i + k * 4) % TOPICS.length]!,
    );
    const received = new Map<string, number[]>(topics.map((topic) => [topic, []]));
    const gaps = new Map<string, { from: Position; to: Position }[]>();
    const connection = await websocketConnect(
      `ws://127.0.0.1:${proxy.port}/t/${topics.join(',')}`,
      {
        reconnect: { minDelay: 50, maxDelay: 1000 },
        resume: true,
        onMessage(message) {
          const { t, s } = JSON.parse(String(message)) as { t: string; s: number };
          received.get(t)!.push(s);
        },
      },
    );
    connection.addEventListener('gap', (event: GapEvent) => {
      const list = gaps.get(event.topic) ?? [];
      list.push({ from: event.from, to: event.to });
      gaps.set(event.topic, list);
    });
    const client: Client = { connection, topics, start: new Map(), received, gaps, reconnects: 0 };
    connection.addEventListener('reconnect', () => {
      client.reconnects++;
    });
    clients.push(client);
  }
  await until(
    () => clients.every((client) => client.connection.positions().size === TOPICS_PER_CLIENT),
    'every client subscribed',
  );
  for (const client of clients) {
    for (const [topic, position] of client.connection.positions())
      client.start.set(topic, position);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.connection.close()));
  await proxy?.close();
  await publisher?.close();
  await Promise.all(instances.map((instance) => instance?.stop()));
  await redis?.stop();
}, 60_000);

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('resumable topics under chaos: 2 instances, 200 clients, 12 topics', () => {
  it('delivers everything once and in order while nothing goes wrong', async () => {
    await survive(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
    });
    const total = clients.reduce(
      (sum, client) => sum + [...client.received.values()].reduce((n, l) => n + l.length, 0),
      0,
    );
    expect(total).toBeGreaterThan(CLIENTS * TOPICS_PER_CLIENT * 5);
    expect(clients.every((client) => client.gaps.size === 0)).toBe(true);
  }, 60_000);

  it('loses nothing when an instance is killed with SIGKILL: its clients fail over', async () => {
    const { reconnected, publishedDuring } = await survive(async () => {
      instances[0]!.child.kill('SIGKILL');
      await until(
        () => instances[0]!.child.exitCode !== null || instances[0]!.child.signalCode !== null,
        'the kill',
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await startInstance(0);
    });
    // About half the clients were on the killed instance; messages went out meanwhile.
    expect(reconnected).toBeGreaterThan(CLIENTS / 4);
    expect(publishedDuring).toBeGreaterThan(0);
    expect(clients.every((client) => client.gaps.size === 0)).toBe(true);
  }, 90_000);

  it('loses nothing in a rolling restart of both instances (1012)', async () => {
    const { reconnected } = await survive(async () => {
      for (const index of [0, 1]) {
        await instances[index]!.stop();
        await startInstance(index);
      }
    });
    expect(reconnected).toBe(CLIENTS);
    expect(clients.every((client) => client.gaps.size === 0)).toBe(true);
  }, 90_000);

  it('loses nothing when every client loses its TCP connection for 2 s', async () => {
    const { reconnected, publishedDuring } = await survive(() => proxy.cut(2000));
    expect(reconnected).toBe(CLIENTS);
    expect(publishedDuring).toBeGreaterThan(TOPICS.length);
    expect(clients.every((client) => client.gaps.size === 0)).toBe(true);
  }, 90_000);

  it('reports a gap, never silence, when Redis restarts empty', async () => {
    await survive(async () => {
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.start();
      const before = confirmed;
      await until(() => confirmed > before + TOPICS.length, 'publishes confirmed again');
    });
    // Every client learned, for every topic, that its history was lost.
    for (const client of clients) {
      for (const topic of client.topics) {
        const gaps = client.gaps.get(topic) ?? [];
        expect(
          gaps.some((gap) => gap.from.epoch !== gap.to.epoch),
          `${topic}`,
        ).toBe(true);
      }
    }
  }, 90_000);
});
