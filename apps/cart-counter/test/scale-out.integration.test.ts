import { type ClientConnection, websocketConnect } from '@gale/client';
import { BrokerUnavailableError } from '@gale/redis';
import {
  ManualClock,
  REDIS_KINDS,
  recordingLogger,
  serve,
  type TestRedis,
  useRedis,
} from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STOCK_TOPIC } from '../server/messages.js';
import { SESSION_COOKIE } from '../server/session.js';
import { type CartApplication, type CartApplicationOptions, createApplication } from '../server.js';
import { applyMessage, type CartState, parseMessage, UNKNOWN_CART } from '../src/cart-state.js';

// Two instances of the shop on one real redis-server, then a real Redis Cluster, as behind a load
// balancer: they share the stock (RedisInventory), the pushes (RedisBroker), COOKIE_SECRET and one
// ManualClock, and nothing else (two createApplication() calls in this process), on one
// redis-server and on a Redis Cluster. Time only passes when a test steps the
// clock (reservations run out, sweeps and retries come due); what is waited for is I/O alone.

const COOKIE_SECRET = 'scale-out-test-secret-0123456789abcdef';
/** How often each instance looks for reservations that ran out, at the latest (the default). */
const SWEEP_INTERVAL_MS = 1000;
/** The longest wait between two resends of the stock after Redis came back. */
const MAX_RESEND_BACKOFF_MS = 2000;
const clock = new ManualClock(Date.now());

let redis: TestRedis;
const apps: CartApplication[] = [];
const viewers: Viewer[] = [];
let shops = 0;

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((viewer) => viewer.close()));
  await Promise.all(apps.splice(0).map((app) => app.close(1000)));
});

afterAll(async () => {
  await Promise.all(viewers.splice(0).map((viewer) => viewer.close()));
  await Promise.all(apps.splice(0).map((app) => app.close(1000)));
});

interface Instance {
  readonly app: CartApplication;
  readonly base: string;
  readonly log: string[];
}

/** Two instances of one shop (its own Redis prefix, so each test starts with a full shelf). */
async function twoInstances(options: CartApplicationOptions = {}): Promise<[Instance, Instance]> {
  const redisPrefix = `scale-out-${++shops}:`;
  const start = async (): Promise<Instance> => {
    const logger = recordingLogger();
    const app = createApplication({
      initialStock: 10,
      redisUrl: redis.url,
      redisPrefix,
      cookieSecret: COOKIE_SECRET,
      accessLog: false,
      logger,
      clock,
      ...options,
    });
    apps.push(app);
    return { app, base: (await serve(app)).origin, log: logger.lines };
  };
  return [await start(), await start()];
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/**
 * One browser: its own cookie jar, used against either instance. Like the page, it sends the
 * `_xsrf` cookie's token with every POST, after a `GET /cart` if it has no such cookie yet.
 */
class Shopper {
  /** The session cookie (`burts_session=…`), or null. */
  cookie: string | null = null;
  /** The `_xsrf` cookie (`_xsrf=…`), or null. */
  xsrf: string | null = null;

  get(on: Instance): Promise<Reply> {
    return this.send(on, 'GET');
  }

  add(on: Instance): Promise<Reply> {
    return this.send(on, 'POST', JSON.stringify({ action: 'add' }));
  }

  remove(on: Instance): Promise<Reply> {
    return this.send(on, 'POST', JSON.stringify({ action: 'remove' }));
  }

  async send(on: Instance, method: string, body?: string): Promise<Reply> {
    if (method !== 'GET' && this.xsrf === null) await this.get(on);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.cookies !== '') headers['Cookie'] = this.cookies;
    if (method !== 'GET' && this.xsrf !== null) {
      headers['X-XSRFToken'] = this.xsrf.slice('_xsrf='.length);
    }
    const response = await fetch(`${on.base}/cart`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    for (const header of response.headers.getSetCookie()) {
      const pair = header.split(';', 1)[0]!;
      if (pair.startsWith(`${SESSION_COOKIE}=`)) this.cookie = pair;
      if (pair.startsWith('_xsrf=')) this.xsrf = pair;
    }
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === '' ? {} : JSON.parse(text),
    };
  }

  /** The Cookie header for this shopper's cookies ('' for none). */
  get cookies(): string {
    return [this.cookie, this.xsrf].filter((pair) => pair !== null).join('; ');
  }

  /** A tab on `on`: what it shows is the page's own logic applied to every message. */
  async view(on: Instance): Promise<Viewer> {
    const viewer = new Viewer();
    viewers.push(viewer);
    viewer.connection = await websocketConnect(`${on.base.replace('http', 'ws')}/cart/status`, {
      headers: this.cookies === '' ? {} : { Cookie: this.cookies },
      onMessage: (message) => viewer.receive(message),
    });
    return viewer;
  }
}

class Viewer {
  connection: ClientConnection | null = null;
  state: CartState = UNKNOWN_CART;
  readonly messages: Record<string, unknown>[] = [];

  receive(data: string | Uint8Array): void {
    const message = parseMessage(data);
    if (message === null) throw new Error(`not a cart message: ${String(data)}`);
    this.messages.push({ ...message });
    this.state = applyMessage(this.state, message);
  }

  /** The count the page would show. */
  count(): number | null {
    return this.state.inventoryCount;
  }

  async close(): Promise<void> {
    await this.connection?.close().catch(() => {});
  }
}

describe.each(REDIS_KINDS)('on %s', (kind) => {
  // Skipped on a cluster until RedisBroker supports clusters (the pushes go through it).
  describe('two instances sharing Redis', () => {
    const testRedis = useRedis(kind);
    beforeAll(() => {
      redis = testRedis;
    });

    it('10 concurrent adds from 10 sessions against 5 left, split 5/5: exactly 5 succeed, every viewer ends at 0', async () => {
      const [a, b] = await twoInstances();
      for (let i = 0; i < 5; i++) await new Shopper().add(i % 2 === 0 ? a : b);
      const watching = [
        await new Shopper().view(a),
        await new Shopper().view(a),
        await new Shopper().view(b),
        await new Shopper().view(b),
      ];
      for (const viewer of watching) await expect.poll(() => viewer.count()).toBe(5);

      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, i) => new Shopper().add(i < 5 ? a : b)),
      );
      expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
      expect(replies.filter((r) => r.status === 409)).toHaveLength(5);
      const versions = replies.filter((r) => r.status === 200).map((r) => r.body['version']);
      expect(new Set(versions).size).toBe(5); // one version per sale, wherever it happened
      expect((await new Shopper().get(a)).body['inventoryCount']).toBe(0);
      expect((await new Shopper().get(b)).body['inventoryCount']).toBe(0);
      const newest = Math.max(...(versions as number[]));
      for (const viewer of watching) {
        await expect.poll(() => viewer.state.stockVersion).toBe(newest);
        expect(viewer.count()).toBe(0);
      }
    });

    it('shares sessions: a cookie signed by one instance is valid on the other', async () => {
      const [a, b] = await twoInstances();
      const alice = new Shopper();
      expect((await alice.add(a)).body).toMatchObject({ inventoryCount: 9, inCart: true });
      const cookie = alice.cookie;
      const onB = await alice.get(b);
      expect(onB.body).toMatchObject({ inventoryCount: 9, inCart: true });
      expect(alice.cookie).toBe(cookie); // not replaced by a new session
    });

    it('a remove on B is seen by the viewers on A, and by the tab of that session on A', async () => {
      const [a, b] = await twoInstances();
      const alice = new Shopper();
      await alice.add(b);
      const stranger = await new Shopper().view(a);
      const aliceTab = await alice.view(a);
      await expect.poll(() => aliceTab.state).toMatchObject({ inventoryCount: 9, inCart: true });
      await expect.poll(() => stranger.count()).toBe(9);

      expect((await alice.remove(b)).body).toMatchObject({ inventoryCount: 10, inCart: false });
      await expect.poll(() => stranger.count()).toBe(10);
      await expect.poll(() => aliceTab.state).toMatchObject({ inventoryCount: 10, inCart: false });
    });

    it('pushes the expiry of a reservation to the viewers on both instances', async () => {
      const [a, b] = await twoInstances({ initialStock: 1, reservationTtlMs: 1000 });
      const alice = new Shopper();
      await alice.get(a); // the session exists before her tab connects
      const aliceTab = await alice.view(b);
      const onA = await new Shopper().view(a);
      const onB = await new Shopper().view(b);
      for (const viewer of [onA, onB, aliceTab]) await expect.poll(() => viewer.count()).toBe(1);
      const added = await alice.add(a);
      expect(added.body).toMatchObject({ inventoryCount: 0, inCart: true });
      expect((await new Shopper().add(b)).status).toBe(409);
      for (const viewer of [onA, onB, aliceTab]) await expect.poll(() => viewer.count()).toBe(0);

      // Nobody does anything: held until the TTL runs out...
      clock.advance(999);
      expect((await alice.get(b)).body).toMatchObject({ inventoryCount: 0, inCart: true });
      // ...then within a sweep interval both instances' viewers hear it.
      clock.advance(SWEEP_INTERVAL_MS);
      for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(1);
      await expect.poll(() => aliceTab.state).toMatchObject({ inventoryCount: 1, inCart: false });
      // Her tab hears why, on her session's topic; it may come before or after the stock change,
      // which travels on another topic (on a cluster, another shard): no order between the two.
      expect(aliceTab.messages.filter((m) => m['expired'] === true)).toEqual([
        expect.objectContaining({ inCart: false, expired: true }),
      ]);
      // Exactly one instance released it: the expiry has one version, pushed once to each viewer.
      const expiryVersion = (added.body['version'] as number) + 1;
      for (const viewer of [onA, onB]) {
        expect(viewer.messages.filter((m) => m['version'] === expiryVersion)).toEqual([
          { inventoryCount: 1, version: expiryVersion },
        ]);
      }
      expect((await new Shopper().add(b)).status).toBe(200);
    });

    it.runIf(kind === 'redis')(
      'Redis stopped: 503 JSON, sockets stay, the server keeps serving; Redis back (empty): both recover',
      async () => {
        const [a, b] = await twoInstances({ initialStock: 5 });
        const alice = new Shopper();
        await alice.add(a);
        const aliceTab = await alice.view(b);
        const onA = await new Shopper().view(a);
        const onB = await new Shopper().view(b);
        for (const viewer of [onA, onB, aliceTab]) await expect.poll(() => viewer.count()).toBe(4);
        const before = onA.state.stockVersion;

        await redis.single.stop();
        try {
          for (const instance of [a, b]) {
            const shopper = new Shopper();
            const add = await shopper.add(instance);
            expect(add.status).toBe(503);
            expect(add.headers.get('content-type')).toMatch(/^application\/json/);
            expect(add.headers.get('retry-after')).toBe('1');
            expect(add.body).toEqual({
              status: 503,
              message: "The shop can't reach its stock right now; try again in a moment",
            });
            expect((await alice.remove(instance)).status).toBe(503);
            expect((await shopper.get(instance)).status).toBe(503);
            // Still serving: bad input is still a 400, and a new tab is told to try again later.
            const bad = await shopper.send(instance, 'POST', '{"action": "steal"}');
            expect(bad.status).toBe(400);
            const tab = await new Shopper().view(instance);
            await expect.poll(() => tab.connection?.closeCode).toBe(1013);
          }
          // The open tabs stay open. A publish reaches no one, not even the instance's own viewers
          // (a message without a position in Redis could never be resumed), and says so.
          for (const viewer of [onA, onB, aliceTab]) expect(viewer.connection?.state).toBe('open');
          const seen = onA.messages.length;
          const published = a.app.publish(STOCK_TOPIC, { inventoryCount: 4, version: before });
          await expect(published).rejects.toBeInstanceOf(BrokerUnavailableError);
          expect(onA.messages.length).toBe(seen);
          expect(a.log.join('\n')).toMatch(/Redis unreachable/);
        } finally {
          await redis.single.start();
        }

        // Redis came back empty: the reservations went with it, so the whole stock is on the shelf
        // again. Each instance resends the stock to its viewers, and their cart to the tabs it
        // serves, with versions above every earlier one (the pages keep the newest). It retries
        // (with backoff, on its clock) until its inventory answers: once both answer, a step of the
        // longest backoff sends what is still waiting.
        for (const instance of [a, b]) {
          await expect.poll(async () => (await new Shopper().get(instance)).status).toBe(200);
        }
        clock.advance(MAX_RESEND_BACKOFF_MS);
        for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(5);
        await expect.poll(() => aliceTab.state).toMatchObject({ inventoryCount: 5, inCart: false });
        expect(onA.state.stockVersion).toBeGreaterThan(before);
        // New traffic flows across instances again, in both directions.
        const bob = new Shopper();
        await expect.poll(async () => (await bob.add(b)).status).toBe(200);
        await expect.poll(() => onA.count()).toBe(4);
        await expect.poll(async () => (await alice.add(a)).status).toBe(200);
        for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(3);
        await expect.poll(() => aliceTab.state).toMatchObject({ inventoryCount: 3, inCart: true });
        const tab = await new Shopper().view(b);
        await expect.poll(() => tab.count()).toBe(3);
      },
    );

    it.runIf(kind === 'cluster')(
      'a primary failing over: 503 meanwhile (never a hang, never a 500), then both serve again and never oversell',
      async () => {
        const [a, b] = await twoInstances({ initialStock: 20 });
        const onA = await new Shopper().view(a);
        const onB = await new Shopper().view(b);
        for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(20);
        const port = await redis.primaryOf(`{scale-out-${shops}:shop}:stock`);
        await redis.replicated(port);
        const statuses = new Set<number>();
        let isOver = false;
        const shopping = (async () => {
          while (!isOver) {
            const shopper = new Shopper();
            statuses.add((await shopper.add(a)).status);
            statuses.add((await shopper.remove(b)).status);
          }
        })();
        await redis.cluster.killPrimary(port);
        for (const instance of [a, b]) {
          await expect
            .poll(async () => (await new Shopper().get(instance)).status, { timeout: 20_000 })
            .toBe(200);
        }
        isOver = true;
        await shopping;
        expect([...statuses].filter((status) => status !== 200 && status !== 503)).toEqual([]);
        // Pushes go on across instances, and 10 concurrent adds against 5 left still sell 5.
        const left = (await new Shopper().get(a)).body['inventoryCount'] as number;
        for (let i = 0; i < left - 5; i++) await new Shopper().add(i % 2 === 0 ? a : b);
        for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(5);
        const replies = await Promise.all(
          Array.from({ length: 10 }, (_, i) => new Shopper().add(i < 5 ? a : b)),
        );
        expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
        for (const viewer of [onA, onB]) await expect.poll(() => viewer.count()).toBe(0);
      },
    );
  });
});
