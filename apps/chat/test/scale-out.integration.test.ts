import { HandshakeError, websocketConnect } from '@gale/client';
import type { Logger } from '@gale/server';
import { type RedisProcess, type ServerProcess, startRedis, startServer } from '@gale/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NOT_SENT, UNAVAILABLE } from '../server/errors.js';
import { nicknameKey } from '../server/nickname.js';
import {
  cookieFor,
  type Endpoint,
  type Frame,
  login,
  logout,
  openTab,
  startChat,
  type Tab,
  type TestServer,
} from './helpers.js';

// Two instances of the chat (createApplication in this process, sharing nothing but a real
// redis-server), as behind a load balancer; a third one in its own process, to kill. Their
// heartbeat is the app's default, a third of the release delay, and an instance that has not
// beaten for three heartbeats is taken for dead, its users announced as left: A and B share this
// process, so the delay must outlast any pause of it on a busy machine (with 600 ms, and so
// 300 ms, one pause made A look dead to B, and a watcher on A heard that it had left itself).
const RELEASE_AFTER_MS = 2_000;
const appDir = new URL('../', import.meta.url);
let redis: RedisProcess;
let inspector: Redis;
let a: TestServer;
let b: TestServer;
const children: ServerProcess[] = [];
const tabs: Tab[] = [];
const logged: string[] = [];
let unique = 0;

// What the instances log (Redis going away is expected here), kept for the assertions.
const logger: Logger = {
  info: () => {},
  warn: (message: unknown) => void logged.push(String(message)),
  error: (message: unknown) => void logged.push(String(message)),
};

function nick(base: string): string {
  unique += 1;
  return `${base}${unique}`;
}

/** A user's only tab on `server`: logs in there, connects, reads its own "joined". */
async function user(server: Endpoint, name: string): Promise<Tab> {
  return track(await openTab(server, await cookieFor(server, name), name));
}

function track(t: Tab): Tab {
  tabs.push(t);
  return t;
}

const isMessage = (text: string) => (frame: Frame) =>
  frame.type === 'message' && frame['text'] === text;
const isNotice = (type: 'joined' | 'left', nickname: string) => (frame: Frame) =>
  frame.type === type && frame['nickname'] === nickname;

async function handshakeStatus(server: Endpoint, cookie: string): Promise<number> {
  try {
    const connection = await websocketConnect(server.ws, { headers: { Cookie: cookie } });
    await connection.close();
    return 101;
  } catch (error) {
    if (error instanceof HandshakeError) return error.status;
    throw error;
  }
}

function instance(): Promise<TestServer> {
  return startChat({
    redisUrl: redis.url,
    nicknameReleaseAfterMs: RELEASE_AFTER_MS,
    logger,
  });
}

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  a = await instance();
  b = await instance();
});

afterEach(async () => {
  await Promise.all(tabs.splice(0).map((t) => t.close().catch(() => {})));
});

afterAll(async () => {
  await Promise.all(tabs.map((t) => t.close().catch(() => {})));
  await Promise.all(children.map((child) => child.stop()));
  await Promise.all([a?.close(), b?.close()]);
  inspector?.disconnect();
  await redis?.stop();
});

describe('two instances on one Redis', () => {
  it('carries messages both ways, and joins and leaves', async () => {
    const ada = nick('Ada');
    const bob = nick('Bob');
    const adaTab = await user(a, ada);
    const bobTab = await user(b, bob);
    await adaTab.until(isNotice('joined', bob));
    await adaTab.send({ type: 'message', text: 'hello from A' });
    await bobTab.send({ type: 'message', text: 'hello from B' });
    // Both, on both instances (in either order: the two were said at once on two servers).
    for (const t of [adaTab, bobTab]) {
      const said = new Map<unknown, unknown>();
      while (said.size < 2) {
        const frame = await t.until((f) => f.type === 'message');
        said.set(frame['text'], frame['from']);
      }
      expect(Object.fromEntries(said)).toEqual({ 'hello from A': ada, 'hello from B': bob });
    }
    await bobTab.close();
    expect(await adaTab.until((f) => f.type !== 'message')).toEqual({
      type: 'left',
      nickname: bob,
    });
  });

  it('counts tabs across instances: one "joined" for the first anywhere, one "left" for the last', async () => {
    const watcher = await user(a, nick('watcher'));
    const cat = nick('Cat');
    const cookie = await cookieFor(a, cat);
    const onB = track(await openTab(b, cookie));
    expect(await watcher.until((f) => f.type !== 'message')).toEqual({
      type: 'joined',
      nickname: cat,
    });
    const onA = track(await openTab(a, cookie));
    await onB.close();
    // No second "joined" and no "left": the next thing the watcher hears is this marker.
    await onA.send({ type: 'message', text: 'still here on A' });
    expect(await watcher.next()).toMatchObject({ type: 'message', text: 'still here on A' });
    await onA.close();
    expect(await watcher.next()).toEqual({ type: 'left', nickname: cat });
  });

  it('refuses on B, with 409, a nickname taken on A (whatever its case)', async () => {
    const name = nick('Grace');
    expect((await login(a, name)).status).toBe(200);
    for (const taken of [name, name.toUpperCase()]) {
      const answer = await login(b, taken);
      expect(answer.status).toBe(409);
      expect(answer.body).toEqual({
        status: 409,
        message: 'Nickname already in use, please choose another',
      });
    }
  });

  it('lets exactly one of ten concurrent logins split across the instances win', async () => {
    const name = nick('race');
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => login(i % 2 === 0 ? a : b, name)),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([
      200,
      ...Array<number>(9).fill(409),
    ]);
  });

  it('shares the history: a late joiner on B gets the last 50 messages said on A', async () => {
    const talker = await user(a, nick('talker'));
    const texts = Array.from({ length: 55 }, (_, i) => `shared ${i + 1}`);
    for (const text of texts) await talker.send({ type: 'message', text });
    await talker.until(isMessage('shared 55'));
    const late = await user(b, nick('late'));
    expect(late.history.map((m) => m['text'])).toEqual(texts.slice(5));
  });

  it('closes every tab of a user who logs out on the other instance (4001), with one "left"', async () => {
    const watcher = await user(b, nick('watcher'));
    const name = nick('leaver');
    const cookie = await cookieFor(a, name);
    const onA = track(await openTab(a, cookie));
    const onB = track(await openTab(b, cookie));
    await watcher.until(isNotice('joined', name));
    expect((await logout(b, cookie)).status).toBe(204);
    for (const t of [onA, onB]) {
      while ((await t.connection.readMessage()) !== null) {
        // Whatever was on its way before the close.
      }
      expect(t.connection.closeCode).toBe(4001);
    }
    expect(await watcher.until((f) => f.type !== 'message')).toEqual({
      type: 'left',
      nickname: name,
    });
    // Free at once, on either instance.
    expect((await login(a, name)).status).toBe(200);
  });

  it('holds a nickname while a tab is open anywhere, and frees it after the delay once none is', async () => {
    const name = nick('Dora');
    const cookie = await cookieFor(a, name);
    const onB = track(await openTab(b, cookie));
    // Far beyond the delay: B's heartbeat holds the name for its open tab.
    await new Promise((resolve) => setTimeout(resolve, 3 * RELEASE_AFTER_MS));
    expect((await login(a, name)).status).toBe(409);
    await onB.close();
    // A reload within the delay, on the other instance, gets it back...
    const reloaded = track(await openTab(a, cookie));
    await reloaded.close();
    expect((await login(b, name)).status).toBe(409);
    // ...and with no tab left anywhere it is freed after the delay.
    await expect.poll(async () => (await login(b, name)).status, { timeout: 10_000 }).toBe(200);
    expect(await handshakeStatus(a, cookie)).toBe(401);
  });

  it('tells everyone that the users of an instance that died left', async () => {
    const c = await startServer(appDir, { REDIS_URL: redis.url, COOKIE_SECRET: 'test secret' });
    children.push(c);
    const onC: Endpoint = { http: c.url.slice(0, -1), ws: `ws://127.0.0.1:${c.port}/chat` };
    const watcher = await user(a, nick('watcher'));
    const eve = nick('Eve');
    await user(onC, eve);
    await watcher.until(isNotice('joined', eve));
    c.child.kill('SIGKILL');
    await c.stop();
    // Once it missed its heartbeats (three of its default 5 s), the next heartbeat of A or B
    // removes its connections and announces who left with them.
    expect(await watcher.until(isNotice('left', eve), 40_000)).toEqual({
      type: 'left',
      nickname: eve,
    });
  }, 60_000);
});

describe('Redis going away and coming back empty', () => {
  let ada: string;
  let bob: string;
  let adaCookie: string;
  let bobCookie: string;
  let adaTab: Tab;
  let bobTab: Tab;

  it('while Redis is down: 503 JSON on the HTTP routes and the handshake, an error frame for a message', async () => {
    ada = nick('Ada');
    bob = nick('Bob');
    adaCookie = await cookieFor(a, ada);
    bobCookie = await cookieFor(b, bob);
    // Not tracked: they live through the outage, into the next test.
    adaTab = await openTab(a, adaCookie, ada);
    bobTab = await openTab(b, bobCookie, bob);
    await adaTab.until(isNotice('joined', bob));

    await redis.stop();
    // As soon as the instance noticed (at once: Redis closed the connections), never a hang.
    await expect.poll(async () => (await login(a, nick('newcomer'))).status).toBe(503);
    const refused = await login(b, nick('newcomer'));
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({ status: 503, message: UNAVAILABLE });
    expect((await fetch(`${a.http}/login`, { headers: { Cookie: adaCookie } })).status).toBe(503);
    expect((await logout(b, bobCookie)).status).toBe(503);
    expect(await handshakeStatus(b, bobCookie)).toBe(503);

    // A message cannot be stored, so it is sent to no one: the sender gets an error frame and
    // its socket stays open.
    await adaTab.send({ type: 'message', text: 'into the void' });
    expect(await adaTab.next()).toEqual({ type: 'error', reason: NOT_SENT });
    await adaTab.send({ type: 'bogus' });
    expect(await adaTab.next()).toEqual({ type: 'error', reason: 'Unknown message type' });
    // The instances said so in their logs (once per loss, not once per request).
    await expect.poll(() => logged.some((line) => /redis/i.test(line))).toBe(true);
  });

  it('once Redis is back (empty): both instances recover, resend the history, and the room goes on', async () => {
    await redis.start();
    // Each instance's broker resubscribed and sent its tabs a fresh history: empty, since Redis
    // came back without its data; the page puts it in place of what it showed.
    for (const t of [adaTab, bobTab]) {
      expect(await t.until((f) => f.type === 'history', 15_000)).toEqual({
        type: 'history',
        messages: [],
      });
    }
    // Messages flow between the instances again, and are stored again.
    await adaTab.send({ type: 'message', text: 'back from A' });
    expect(await bobTab.until(isMessage('back from A'))).toMatchObject({ from: ada });
    await bobTab.send({ type: 'message', text: 'back from B' });
    expect(await adaTab.until(isMessage('back from B'))).toMatchObject({ from: bob });
    const late = await user(b, nick('late'));
    expect(late.history.map((m) => m['text'])).toEqual(['back from A', 'back from B']);

    // The heartbeats gave the store back what it forgot: Ada's nickname (refused to others)...
    await inspector.connect();
    await expect
      .poll(() => inspector.exists(`chat:nickname:${nicknameKey(ada)}`), { timeout: 10_000 })
      .toBe(1);
    expect((await login(b, ada)).status).toBe(409);
    // ...and who is present: Bob's tab closing is Bob leaving, seen on A.
    await bobTab.close();
    expect(await adaTab.until(isNotice('left', bob))).toEqual({ type: 'left', nickname: bob });
    await adaTab.close();
  });
});
