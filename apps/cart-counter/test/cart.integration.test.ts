import { type ClientConnection, websocketConnect } from '@gale/client';
import { ManualClock, serve } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { CartMessage, StockMessage } from '../server/messages.js';
import { SESSION_COOKIE } from '../server/session.js';
import { type CartApplication, type CartApplicationOptions, createApplication } from '../server.js';

// The HTTP and WebSocket contracts of ARCHITECTURE.md against createApplication() on a real port.

const apps: CartApplication[] = [];
const sockets: ClientConnection[] = [];

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((socket) => socket.close().catch(() => {})));
  await Promise.all(apps.splice(0).map((app) => app.close(1000)));
});

async function startShop(options: CartApplicationOptions = { initialStock: 10 }): Promise<string> {
  const app = createApplication({ accessLog: false, ...options });
  apps.push(app);
  return (await serve(app)).origin;
}

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly setCookies: string[];
}

/**
 * One browser: its own cookie jar, its own session. Like the page, it sends the `_xsrf` cookie's
 * token in `X-XSRFToken` with every POST, after a `GET /cart` if it has no such cookie yet.
 */
class Shopper {
  readonly base: string;
  /** The session cookie (`burts_session=…`), or null. */
  cookie: string | null = null;
  /** The `_xsrf` cookie's value, or null. */
  xsrf: string | null = null;

  constructor(base: string) {
    this.base = base;
  }

  get(): Promise<Reply> {
    return this.send('GET');
  }

  add(): Promise<Reply> {
    return this.post({ action: 'add' });
  }

  remove(): Promise<Reply> {
    return this.post({ action: 'remove' });
  }

  post(json: unknown): Promise<Reply> {
    return this.send('POST', JSON.stringify(json), 'application/json');
  }

  async send(method: string, body?: BodyInit, contentType?: string): Promise<Reply> {
    if (method !== 'GET' && this.xsrf === null) await this.get();
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    if (this.cookies !== '') headers['Cookie'] = this.cookies;
    if (method !== 'GET' && this.xsrf !== null) headers['X-XSRFToken'] = this.xsrf;
    const response = await fetch(`${this.base}/cart`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const setCookies = response.headers.getSetCookie();
    for (const header of setCookies) {
      const pair = header.split(';', 1)[0]!;
      if (pair.startsWith(`${SESSION_COOKIE}=`)) this.cookie = pair;
      if (pair.startsWith('_xsrf=')) this.xsrf = pair.slice('_xsrf='.length);
    }
    const text = await response.text();
    return { status: response.status, body: text === '' ? {} : JSON.parse(text), setCookies };
  }

  /** The Cookie header for this shopper's cookies ('' for none). */
  get cookies(): string {
    const pairs = this.cookie === null ? [] : [this.cookie];
    if (this.xsrf !== null) pairs.push(`_xsrf=${this.xsrf}`);
    return pairs.join('; ');
  }

  /** A tab showing the live stock (WS /cart/status, with this shopper's cookies if any). */
  async view(): Promise<ClientConnection> {
    const socket = await websocketConnect(`${this.base.replace('http', 'ws')}/cart/status`, {
      headers: this.cookies === '' ? {} : { Cookie: this.cookies },
    });
    sockets.push(socket);
    return socket;
  }
}

async function next(socket: ClientConnection): Promise<StockMessage | CartMessage> {
  const message = await socket.readJson<StockMessage | CartMessage>();
  if (message === null) throw new Error('the socket closed');
  return message;
}

describe('GET /cart', () => {
  it('creates a signed, HttpOnly, SameSite=Lax session cookie and answers the stock', async () => {
    const alice = new Shopper(await startShop());
    const reply = await alice.get();
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ inventoryCount: 10, version: 0, inCart: false, expiresAt: null });
    expect(reply.setCookies).toHaveLength(2); // the session, and _xsrf (see "XSRF protection")
    const cookie = reply.setCookies.find((header) => header.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=2\\|1:0\\|10:\\d+\\|`)); // Tornado's v2
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).not.toMatch(/Expires|Max-Age/i); // a browser-session cookie
    // The cookie is kept: the next request sets none.
    expect((await alice.get()).setCookies).toEqual([]);
  });

  it('treats a forged session cookie as none and issues a new one', async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    await alice.add();
    const mallory = new Shopper(base);
    mallory.cookie = alice.cookie!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const reply = await mallory.get();
    expect(reply.body['inCart']).toBe(false);
    expect(reply.setCookies.filter((c) => c.startsWith(`${SESSION_COOKIE}=`))).toHaveLength(1);
    expect(mallory.cookie).not.toBe(alice.cookie);
  });
});

describe('POST /cart', () => {
  it('adds a copy for the session (JSON), which a reload of the cart still shows', async () => {
    const alice = new Shopper(await startShop());
    const added = await alice.add();
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ inventoryCount: 9, inCart: true });
    expect(Date.parse(added.body['expiresAt'] as string)).toBeGreaterThan(Date.now());
    expect(alice.cookie).not.toBeNull();
    expect((await alice.get()).body).toMatchObject({ inventoryCount: 9, inCart: true });
  });

  it('starts a session on a POST that has the token but no session cookie (it lapsed)', async () => {
    const alice = new Shopper(await startShop());
    await alice.get();
    alice.cookie = null;
    const added = await alice.add();
    expect(added).toMatchObject({ status: 200, body: { inventoryCount: 9, inCart: true } });
    expect(added.setCookies.filter((c) => c.startsWith(`${SESSION_COOKIE}=`))).toHaveLength(1);
    expect((await alice.get()).body).toMatchObject({ inventoryCount: 9, inCart: true });
  });

  it('accepts a form as well as JSON', async () => {
    const alice = new Shopper(await startShop());
    const added = await alice.send('POST', 'action=add', 'application/x-www-form-urlencoded');
    expect(added).toMatchObject({ status: 200, body: { inventoryCount: 9, inCart: true } });
    const removed = await alice.send('POST', new URLSearchParams({ action: 'remove' }));
    expect(removed).toMatchObject({ status: 200, body: { inventoryCount: 10, inCart: false } });
  });

  it('is idempotent: add while holding a copy and remove while holding none are 200 no-ops', async () => {
    const alice = new Shopper(await startShop());
    const first = await alice.add();
    const second = await alice.add();
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body); // same count, same version, same expiry
    expect((await alice.remove()).body).toMatchObject({ inventoryCount: 10, inCart: false });
    const again = await alice.remove();
    expect(again).toMatchObject({ status: 200, body: { inventoryCount: 10, inCart: false } });
    const stranger = new Shopper(alice.base);
    expect(await stranger.remove()).toMatchObject({ status: 200, body: { inventoryCount: 10 } });
  });

  it('answers 409 when sold out; the count never goes below zero', async () => {
    const base = await startShop({ initialStock: 2 });
    const [a, b, c] = [new Shopper(base), new Shopper(base), new Shopper(base)];
    expect((await a.add()).body['inventoryCount']).toBe(1);
    expect((await b.add()).body['inventoryCount']).toBe(0);
    const refused = await c.add();
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      status: 409,
      message: "Sold out: every copy is in someone's cart",
    });
    expect((await c.add()).status).toBe(409);
    expect((await c.get()).body).toMatchObject({ inventoryCount: 0, inCart: false });
    // A holder adding again is still fine, and a release lets the next one in.
    expect((await a.add()).status).toBe(200);
    await a.remove();
    expect(await c.add()).toMatchObject({ status: 200, body: { inventoryCount: 0, inCart: true } });
  });

  it('never oversells: 10 concurrent adds from 10 sessions against 5 left, exactly 5 succeed', async () => {
    const base = await startShop();
    for (let i = 0; i < 5; i++) await new Shopper(base).add();
    const viewer = await new Shopper(base).view();
    expect(await next(viewer)).toMatchObject({ inventoryCount: 5 });
    const replies = await Promise.all(Array.from({ length: 10 }, () => new Shopper(base).add()));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(5);
    expect((await new Shopper(base).get()).body['inventoryCount']).toBe(0);
    // The viewer saw exactly the five sales, counting down to zero.
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) counts.push((await next(viewer)).inventoryCount);
    expect(counts).toEqual([4, 3, 2, 1, 0]);
  });

  it.each([
    ['invalid JSON', '{"action": ', 'application/json'],
    ['a JSON string', '"add"', 'application/json'],
    ['a JSON array', '["add"]', 'application/json'],
    ['an unknown action', '{"action": "buy"}', 'application/json'],
    ['no action', '{}', 'application/json'],
    ['a number for the action', '{"action": 1}', 'application/json'],
    ['an unknown form action', 'action=steal', 'application/x-www-form-urlencoded'],
    ['text/plain', 'action=add', 'text/plain'],
    ['no content type', new Uint8Array(Buffer.from('{"action":"add"}')), undefined],
    ['a body that is not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'application/json'],
  ])('answers 400 to %s, and keeps serving', async (_name, body, contentType) => {
    const base = await startShop();
    const viewer = await new Shopper(base).view();
    expect(await next(viewer)).toMatchObject({ inventoryCount: 10 });
    const mallory = new Shopper(base);
    const reply = await mallory.send('POST', body, contentType);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ status: 400, message: expect.any(String) });
    expect((await mallory.get()).body['inventoryCount']).toBe(10);
    // Others are still served, and viewers still told.
    expect((await new Shopper(base).add()).status).toBe(200);
    expect(await next(viewer)).toMatchObject({ inventoryCount: 9 });
  });

  it('answers 413 to a body over 1 MiB, and 405 to other methods', async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    const huge = JSON.stringify({ action: 'add', padding: 'x'.repeat(1024 * 1024) });
    expect((await alice.send('POST', huge, 'application/json')).status).toBe(413);
    expect((await alice.send('PUT', '{"action":"add"}', 'application/json')).status).toBe(405);
    expect((await alice.add()).status).toBe(200);
  });
});

describe('XSRF protection (POST /cart)', () => {
  /** A raw POST /cart {"action": "add"} with exactly these headers. */
  async function rawAdd(base: string, headers: Record<string, string>): Promise<Reply> {
    const response = await fetch(`${base}/cart`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: '{"action":"add"}',
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? {} : JSON.parse(text),
      setCookies: response.headers.getSetCookie(),
    };
  }

  it('GET /cart sets the _xsrf cookie once: readable by the page, SameSite=Lax, not Secure over http', async () => {
    const alice = new Shopper(await startShop());
    const reply = await alice.get();
    const xsrf = reply.setCookies.find((header) => header.startsWith('_xsrf='))!;
    expect(xsrf).toMatch(/^_xsrf=2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+; Path=\//);
    expect(xsrf).toMatch(/; SameSite=Lax/i);
    expect(xsrf).not.toMatch(/HttpOnly|Secure/i);
    expect((await alice.get()).setCookies).toEqual([]);
  });

  it('refuses a POST without the token with 403: nothing changes, nothing is pushed, no cookie is set', async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    await alice.get();
    const viewer = await new Shopper(base).view();
    expect(await next(viewer)).toMatchObject({ inventoryCount: 10, version: 0 });

    const noToken = await rawAdd(base, { Cookie: alice.cookies });
    expect(noToken.status).toBe(403);
    expect(noToken.body).toMatchObject({ status: 403, message: expect.stringMatching(/_xsrf/) });
    expect(noToken.setCookies).toEqual([]);
    // A browser with no cookie at all gets no session minted either.
    const stranger = await rawAdd(base, {});
    expect(stranger.status).toBe(403);
    expect(stranger.setCookies).toEqual([]);
    // A token that is not this browser's cookie's.
    const other = new Shopper(base);
    await other.get();
    const mismatch = await rawAdd(base, { Cookie: alice.cookies, 'X-XSRFToken': other.xsrf! });
    expect(mismatch).toMatchObject({ status: 403, setCookies: [] });

    expect((await alice.get()).body).toEqual({
      inventoryCount: 10,
      version: 0,
      inCart: false,
      expiresAt: null,
    });
    // With the token it works, and that is the first change the viewer hears of.
    const added = await rawAdd(base, { Cookie: alice.cookies, 'X-XSRFToken': alice.xsrf! });
    expect(added).toMatchObject({ status: 200, body: { inventoryCount: 9, inCart: true } });
    expect(added.setCookies).toEqual([]);
    expect(await next(viewer)).toEqual({ inventoryCount: 9, version: 1 });
  });

  it('takes the token as the X-XSRFToken header or an _xsrf form field', async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    await alice.get();
    const form = await fetch(`${base}/cart`, {
      method: 'POST',
      headers: { Cookie: alice.cookies },
      body: new URLSearchParams({ action: 'add', _xsrf: alice.xsrf! }),
    });
    expect(form.status).toBe(200);
    expect(await form.json()).toMatchObject({ inventoryCount: 9, inCart: true });
    const header = await rawAdd(base, { Cookie: alice.cookies, 'X-XSRFToken': alice.xsrf! });
    expect(header.status).toBe(200);
  });

  it.each([
    ['an Origin of another host', { Origin: 'http://evil.example' }],
    ['an Origin of another port', { Origin: 'http://127.0.0.1:1' }],
    ['Origin: null', { Origin: 'null' }],
    ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
  ])('refuses %s with 403 even with a valid token, and changes nothing', async (_name, extra) => {
    const base = await startShop();
    const alice = new Shopper(base);
    await alice.get();
    const token = { Cookie: alice.cookies, 'X-XSRFToken': alice.xsrf! };
    const refused = await rawAdd(base, { ...token, ...extra });
    expect(refused.status).toBe(403);
    expect(refused.body['message']).toMatch(/Cross-origin POST refused/);
    expect(refused.setCookies).toEqual([]);
    expect((await alice.get()).body).toMatchObject({ inventoryCount: 10, inCart: false });
    // Its own origin, as a browser says it, passes.
    const own = await rawAdd(base, { ...token, Origin: base, 'Sec-Fetch-Site': 'same-origin' });
    expect(own.status).toBe(200);
  });
});

describe('WS /cart/status', () => {
  it('sends the count on connect, and every change to every viewer', async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    const [one, two] = [await new Shopper(base).view(), await new Shopper(base).view()];
    for (const viewer of [one, two]) {
      expect(await next(viewer)).toEqual({
        inventoryCount: 10,
        version: 0,
        inCart: false,
        expiresAt: null,
      });
    }
    await alice.add();
    for (const viewer of [one, two]) {
      expect(await next(viewer)).toEqual({ inventoryCount: 9, version: 1 });
    }
    await alice.add(); // a no-op: nothing is pushed for it
    await alice.remove();
    for (const viewer of [one, two]) {
      expect(await next(viewer)).toEqual({ inventoryCount: 10, version: 2 });
    }
  });

  it("gives a returning session its cart on connect, and follows that session's cart", async () => {
    const base = await startShop();
    const alice = new Shopper(base);
    await alice.add();
    // A reload: the new tab carries the cookie, and learns at once that a copy is in the cart.
    const tab = await alice.view();
    expect(await next(tab)).toMatchObject({ inventoryCount: 9, inCart: true, version: 1 });
    // Removed in another tab of the same session: this tab hears the stock, then its cart.
    await alice.remove();
    expect(await next(tab)).toEqual({ inventoryCount: 10, version: 2 });
    expect(await next(tab)).toEqual({
      inventoryCount: 10,
      version: 2,
      inCart: false,
      expiresAt: null,
    });
  });

  it('pushes the release of an expired reservation to every viewer', async () => {
    const clock = new ManualClock(Date.now());
    const base = await startShop({ initialStock: 1, reservationTtlMs: 1000, clock });
    const alice = new Shopper(base);
    const bob = new Shopper(base);
    await alice.get(); // the session exists before her tab connects
    const aliceTab = await alice.view();
    const bobTab = await bob.view();
    expect(await next(aliceTab)).toMatchObject({ inventoryCount: 1, inCart: false });
    expect(await next(bobTab)).toMatchObject({ inventoryCount: 1 });

    expect((await alice.add()).body).toMatchObject({ inventoryCount: 0, inCart: true });
    expect((await bob.add()).status).toBe(409);
    expect(await next(bobTab)).toEqual({ inventoryCount: 0, version: 1 });
    expect(await next(aliceTab)).toEqual({ inventoryCount: 0, version: 1 });
    expect(await next(aliceTab)).toMatchObject({ inventoryCount: 0, version: 1, inCart: true });

    // Nobody does anything: the TTL runs out (not a moment before) and everyone hears it.
    clock.advance(999);
    expect((await alice.get()).body).toMatchObject({ inventoryCount: 0, inCart: true });
    clock.advance(1);
    expect(await next(bobTab)).toEqual({ inventoryCount: 1, version: 2 });
    expect(await next(aliceTab)).toEqual({ inventoryCount: 1, version: 2 });
    expect(await next(aliceTab)).toEqual({
      inventoryCount: 1,
      version: 2,
      inCart: false,
      expiresAt: null,
      expired: true,
    });
    expect((await alice.get()).body).toMatchObject({ inventoryCount: 1, inCart: false });
    expect((await bob.add()).status).toBe(200);
  });

  it('ignores what viewers send, and refuses a plain GET with 400', async () => {
    const base = await startShop();
    const viewer = await new Shopper(base).view();
    expect(await next(viewer)).toMatchObject({ inventoryCount: 10 });
    await viewer.writeMessage('{"action":"add"}');
    await new Shopper(base).add();
    expect(await next(viewer)).toEqual({ inventoryCount: 9, version: 1 });
    expect((await fetch(`${base}/cart/status`)).status).toBe(400);
  });
});

describe('configuration', () => {
  it('reads INITIAL_STOCK and RESERVATION_TTL_MS, and refuses values that are not integers', async () => {
    const saved = { ...process.env };
    try {
      process.env['INITIAL_STOCK'] = '3';
      process.env['RESERVATION_TTL_MS'] = '60000';
      const base = await startShop({}); // no initialStock: the variable decides
      const reply = await new Shopper(base).add();
      expect(reply.body['inventoryCount']).toBe(2);
      const expiresIn = Date.parse(reply.body['expiresAt'] as string) - Date.now();
      expect(expiresIn).toBeGreaterThan(30_000);
      expect(expiresIn).toBeLessThanOrEqual(60_000);
      process.env['INITIAL_STOCK'] = 'lots';
      expect(() => createApplication()).toThrow(RangeError);
      process.env['INITIAL_STOCK'] = '-1';
      expect(() => createApplication()).toThrow(RangeError);
    } finally {
      process.env = saved;
    }
  });
});
