import { type ClientConnection, type GapEvent, websocketConnect } from '@gale/client';
import {
  type RedisProcess,
  serve,
  startRedis,
  startTcpProxy,
  type TcpProxy,
  until,
} from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CartMessage,
  STOCK_TOPIC,
  type StockMessage,
  sessionTopic,
} from '../server/messages.js';
import { SESSION_COOKIE } from '../server/session.js';
import { type CartApplication, type CartApplicationOptions, createApplication } from '../server.js';
import {
  applyMessage,
  type CartState,
  forgetVersion,
  parseMessage,
  UNKNOWN_CART,
} from '../src/cart-state.js';

// WS /cart/status with a gale.v1 client (as the page is: `resume: true`), through a TCP proxy the
// test owns, so that a viewer can be cut off as a network would cut it. The stock's topic keeps
// only its latest value: a viewer that missed changes gets that one message, and no snapshot.
// When the server lost the history (an in-memory shop restarted), the viewer is told of the gap
// and gets a snapshot.

const COOKIE_SECRET = 'resume-test-secret-0123456789abcdef';
/** A session's topic. */
const SESSION = new RegExp(`^${sessionTopic('[0-9a-f-]{36}')}$`);
const apps: CartApplication[] = [];
const viewers: ClientConnection[] = [];
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((viewer) => viewer.close()));
  await proxy?.close();
  proxy = undefined;
  await Promise.all(apps.splice(0).map((app) => app.close(1000)));
});

interface Shop {
  readonly app: CartApplication;
  readonly base: string;
  readonly port: number;
}

async function startShop(options: CartApplicationOptions = {}): Promise<Shop> {
  const app = createApplication({
    initialStock: 10,
    cookieSecret: COOKIE_SECRET,
    accessLog: false,
    ...options,
  });
  apps.push(app);
  const served = await serve(app);
  return { app, base: served.origin, port: served.port };
}

/** One browser's cookies; its requests go straight to a shop, not through the proxy. */
class Shopper {
  cookie: string | null = null;
  xsrf: string | null = null;

  get cookies(): string {
    return [this.cookie, this.xsrf === null ? null : `_xsrf=${this.xsrf}`]
      .filter((pair) => pair !== null)
      .join('; ');
  }

  async get(shop: Shop): Promise<void> {
    await this.#send(shop, 'GET');
  }

  async act(shop: Shop, action: 'add' | 'remove'): Promise<number> {
    if (this.xsrf === null) await this.get(shop);
    return this.#send(shop, 'POST', JSON.stringify({ action }));
  }

  async #send(shop: Shop, method: string, body?: string): Promise<number> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.cookies !== '') headers['Cookie'] = this.cookies;
    if (method === 'POST' && this.xsrf !== null) headers['X-XSRFToken'] = this.xsrf;
    const response = await fetch(`${shop.base}/cart`, { method, headers, body: body ?? null });
    for (const header of response.headers.getSetCookie()) {
      const pair = header.split(';', 1)[0]!;
      if (pair.startsWith(`${SESSION_COOKIE}=`)) this.cookie = pair;
      if (pair.startsWith('_xsrf=')) this.xsrf = pair.slice('_xsrf='.length);
    }
    await response.body?.cancel();
    return response.status;
  }
}

/**
 * A tab of a shopper through the proxy, connected as the page connects (reconnect, resume), and
 * keeping its state as the page does (src/components/burts-books.ts): every message applied,
 * the version of a topic's part forgotten on its gap.
 */
class Tab {
  readonly connection: ClientConnection;
  /** Every message, parsed, in order. */
  readonly messages: (StockMessage | CartMessage)[] = [];
  readonly gaps: GapEvent[] = [];
  /** What came, in order: `stock` and `cart` messages, `gap stock` and `gap cart`. */
  readonly log: string[] = [];
  /** What the page would show. */
  state: CartState = UNKNOWN_CART;

  private constructor(connection: ClientConnection) {
    this.connection = connection;
    connection.addEventListener('gap', (event) => {
      const part = event.topic === STOCK_TOPIC ? 'stock' : 'cart';
      this.gaps.push(event);
      this.log.push(`gap ${part}`);
      this.state = forgetVersion(this.state, part);
    });
  }

  static async open(shopper: Shopper): Promise<Tab> {
    let tab: Tab | null = null;
    const early: string[] = [];
    const connection = await websocketConnect(`ws://127.0.0.1:${proxy!.port}/cart/status`, {
      reconnect: { minDelay: 10, maxDelay: 50 },
      resume: true,
      headers: { Cookie: shopper.cookies },
      onMessage: (message) => {
        if (tab === null) early.push(String(message));
        else tab.#receive(String(message));
      },
    });
    viewers.push(connection);
    tab = new Tab(connection);
    for (const message of early) tab.#receive(message);
    return tab;
  }

  #receive(data: string): void {
    const message = parseMessage(data);
    if (message === null) throw new Error(`not a cart message: ${data}`);
    this.messages.push(message);
    this.log.push('inCart' in message ? 'cart' : 'stock');
    this.state = applyMessage(this.state, message);
  }
}

/**
 * Cuts every connection through the proxy for a second; `during` runs while the tab is cut off
 * (and must be over before the cut is).
 */
async function cutOff(tab: Tab, during: () => Promise<void>): Promise<void> {
  const cut = proxy!.cut(1000);
  await until(() => tab.connection.state === 'reconnecting', 'the cut seen');
  await during();
  expect(tab.connection.state, 'still cut off after the changes').toBe('reconnecting');
  await cut;
  await until(() => tab.connection.state === 'open', 'the reconnection');
}

const snapshot = (inventoryCount: number, version: number, inCart = false) => ({
  inventoryCount,
  version,
  inCart,
  expiresAt: inCart ? expect.any(String) : null,
});

describe('WS /cart/status with gale.v1 (resume)', () => {
  it('a viewer cut off while the stock changes 5 times gets one message, the latest, and no snapshot', async () => {
    const shop = await startShop();
    proxy = await startTcpProxy([shop.port]);
    const viewer = new Shopper();
    await viewer.get(shop);
    const tab = await Tab.open(viewer);
    await until(() => tab.messages.length === 1, 'the snapshot');
    expect(tab.messages).toEqual([snapshot(10, 0)]);
    const others = Array.from({ length: 6 }, () => new Shopper());
    for (const other of others) await other.get(shop); // cookies first: the cut stays short
    await others[0]!.act(shop, 'add');
    await until(() => tab.messages.length === 2, 'a live change');
    expect(tab.messages[1]).toEqual({ inventoryCount: 9, version: 1 });

    await cutOff(tab, async () => {
      for (const other of others.slice(1)) expect(await other.act(shop, 'add')).toBe(200);
    });
    await until(() => tab.messages.length === 3, 'what the viewer missed');
    // A change once the subscription resumed (published earlier, it would have replaced the
    // latest value): whatever the resume sent has arrived before it.
    await others[0]!.act(shop, 'remove');
    await until(() => tab.messages.length >= 4, 'the change after the reconnection');
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing else follows
    expect(tab.messages.slice(2)).toEqual([
      { inventoryCount: 4, version: 6 }, // the latest of the five, alone
      { inventoryCount: 5, version: 7 },
    ]);
    expect(tab.gaps).toEqual([]);
    expect(tab.state).toMatchObject({ inventoryCount: 5, inCart: false });
    expect(tab.connection.positions().get(STOCK_TOPIC)?.offset).toBe(7);
  });

  it('a viewer whose own cart changed meanwhile (another tab) gets that change too, still no snapshot', async () => {
    const shop = await startShop();
    proxy = await startTcpProxy([shop.port]);
    const alice = new Shopper();
    await alice.get(shop);
    const tab = await Tab.open(alice);
    await until(() => tab.messages.length === 1, 'the snapshot');
    const bob = new Shopper();
    const carol = new Shopper();
    for (const shopper of [bob, carol]) await shopper.get(shop);

    await cutOff(tab, async () => {
      expect(await alice.act(shop, 'add')).toBe(200); // version 1, in another tab of hers
      expect(await bob.act(shop, 'add')).toBe(200); // 2
      expect(await carol.act(shop, 'add')).toBe(200); // 3
    });
    await until(() => tab.messages.length === 3, 'what the viewer missed');
    await carol.act(shop, 'remove'); // 4
    await until(() => tab.messages.length >= 4, 'the change after the reconnection');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The stock's latest value, then her session's topic replays what it missed (a cart
    // message of version 1: its count is older, and the page keeps the newer one).
    expect(tab.messages.slice(1)).toEqual([
      { inventoryCount: 7, version: 3 },
      snapshot(9, 1, true),
      { inventoryCount: 8, version: 4 },
    ]);
    expect(tab.gaps).toEqual([]);
    expect(tab.state).toMatchObject({ inventoryCount: 8, inCart: true, stockVersion: 4 });
  });

  it('after the shop restarted empty (a new broker: a gap), the viewer gets a snapshot that replaces what it had', async () => {
    // Two shops behind the proxy: the viewer's socket goes to the first; when it closes, the
    // reconnection goes to the second, as to the same shop restarted with nothing in memory.
    const first = await startShop();
    const second = await startShop();
    proxy = await startTcpProxy([first.port, second.port]);
    const alice = new Shopper();
    await alice.act(first, 'add'); // version 1 on the first
    const tab = await Tab.open(alice);
    await until(() => tab.messages.length === 1, 'the snapshot');
    expect(tab.messages).toEqual([snapshot(9, 1, true)]);
    for (const shopper of [new Shopper(), new Shopper(), new Shopper()]) {
      await shopper.act(first, 'add'); // up to version 4
    }
    await until(() => tab.messages.length === 4, 'three changes');
    expect(tab.state).toMatchObject({ inventoryCount: 6, stockVersion: 4, inCart: true });
    // The restarted shop: a full shelf, no carts, versions from 0 again, and one change already.
    await new Shopper().act(second, 'add'); // version 1 on the second

    await first.app.close(1000);
    await until(() => tab.log.length > 4 && tab.connection.state === 'open', 'the new shop');
    await until(() => tab.messages.length === 6, 'the snapshot after the gap');
    // The stock: a gap, then the latest value the new shop keeps; her session: a gap (the new shop
    // never had that topic); then the snapshot, since neither resumed.
    expect(tab.log.slice(4)).toEqual(['gap stock', 'stock', 'gap cart', 'cart']);
    expect(tab.gaps.map((gap) => gap.topic)).toEqual([STOCK_TOPIC, expect.stringMatching(SESSION)]);
    expect(tab.messages.slice(4)).toEqual([{ inventoryCount: 9, version: 1 }, snapshot(9, 1)]);
    // Versions went back (4 → 1): the gap made the page believe the new shop anyway.
    expect(tab.state).toEqual({
      inventoryCount: 9,
      inCart: false,
      expiresAt: null,
      stockVersion: 1,
      cartVersion: 1,
    });
  });
});

// With REDIS_URL the broker is a RedisBroker given the same CART_HISTORY, whose history lives in
// Redis (Streams): a viewer that reconnects to the other instance resumes there too.
describe('WS /cart/status with gale.v1 (resume), two instances on one Redis', () => {
  let redis: RedisProcess;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('a viewer cut off while the stock changes 5 times resumes on the other instance: the latest, no snapshot', async () => {
    const options = { redisUrl: redis.url, redisPrefix: 'resume-redis-1:' };
    const first = await startShop(options);
    const second = await startShop(options);
    await Promise.all([first.app.ready, second.app.ready]);
    // The first connection goes to the first instance, the next to the second.
    proxy = await startTcpProxy([first.port, second.port]);
    const viewer = new Shopper();
    await viewer.get(first);
    const tab = await Tab.open(viewer);
    await until(() => tab.messages.length === 1, 'the snapshot');
    expect(tab.messages).toEqual([snapshot(10, expect.any(Number))]);
    const others = Array.from({ length: 6 }, () => new Shopper());
    for (const other of others) await other.get(first);

    await cutOff(tab, async () => {
      // Made on either instance: one Redis holds the stock and the topics.
      for (const [i, other] of others.slice(1).entries()) {
        expect(await other.act(i % 2 === 0 ? first : second, 'add')).toBe(200);
      }
    });
    await until(() => tab.messages.length === 2, 'what the viewer missed');
    await others[0]!.act(second, 'add');
    await until(() => tab.messages.length >= 3, 'the change after the reconnection');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [latest, after] = tab.messages.slice(1);
    expect(latest).toEqual({ inventoryCount: 5, version: expect.any(Number) });
    expect(after).toEqual({ inventoryCount: 4, version: expect.any(Number) });
    expect(tab.messages).toHaveLength(3);
    expect(tab.gaps).toEqual([]);
    expect(tab.state).toMatchObject({ inventoryCount: 4, inCart: false });
  });
});
