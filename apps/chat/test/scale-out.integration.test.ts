import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  Inbox,
  ManualClock,
  REDIS_KINDS,
  recordingLogger,
  type TestRedis,
  useRedis,
} from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIVENESS_MS, DEFAULT_PRESENCE_GRACE_MS } from '../server/chat-room.js';
import { NOT_SENT, UNAVAILABLE } from '../server/errors.js';
import { nicknameKey } from '../server/nickname.js';
import { DEFAULT_NICKNAME_RELEASE_AFTER_MS } from '../server.js';
import {
  cookieFor,
  type Endpoint,
  handshakeStatus,
  isMessage,
  isNotice,
  login,
  logout,
  nick,
  openTab,
  startChat,
  type Tab,
  type TestServer,
} from './helpers.js';

// Two instances of the chat (createApplication in this process, sharing nothing but a real
// redis-server, then a real Redis Cluster), as behind a load balancer; a third one in its own
// process, to kill. All three run on one ManualClock that only the test moves, with the app's default timings: a nickname is
// held for 30 s, each instance has a heartbeat every 5 s and a beat of presence every second, one
// silent for three beats counts as dead, and "left" waits 5 s for the user's tab to come back.
// Time never passes by itself, so a busy machine cannot make an instance look dead or a name
// lapse: the test steps the clock one beat at a time, and after each step waits until every
// instance is done with what it started. Only I/O (a frame, a reply, Redis coming back) is waited
// for.
const RELEASE_AFTER_MS = DEFAULT_NICKNAME_RELEASE_AFTER_MS;
const LIVENESS_MS = DEFAULT_LIVENESS_MS;
const DEAD_AFTER_MS = 3 * LIVENESS_MS;
const GRACE_MS = DEFAULT_PRESENCE_GRACE_MS;
const clock = new ManualClock();
let redis: TestRedis;
let a: TestServer;
let b: TestServer;
const children = new Set<SteppedInstance>();
const tabs: { readonly tab: Tab; readonly nickname: string }[] = [];
// What the instances log (Redis going away is expected here), kept for the assertions.
const logger = recordingLogger();

/** A user's only tab on `server`: logs in there, connects, reads its own "joined". */
async function user(server: Endpoint, name: string): Promise<Tab> {
  return track(await openTab(server, await cookieFor(server, name), name), name);
}

/** Closed after the test, which then waits out the grace periods that began. */
function track(tab: Tab, nickname: string): Tab {
  tabs.push({ tab, nickname });
  return tab;
}

/**
 * Moves every instance's clock forward by `ms`, at most a beat at a time (so that no instance
 * misses a beat the others count on), each step once every instance is done with what it
 * started.
 */
async function elapse(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= LIVENESS_MS) {
    const step = Math.min(left, LIVENESS_MS);
    clock.advance(step);
    await Promise.all([
      a.app.room.settled(),
      b.app.room.settled(),
      ...[...children].map((child) => child.advance(step)),
    ]);
  }
}

/** The third instance: its own process, on a clock kept in step with this one's. */
interface SteppedInstance extends Endpoint {
  advance(ms: number): Promise<void>;
  /** SIGKILL: it dies without leaving the room or telling anyone. */
  kill(): Promise<void>;
}

async function startSteppedInstance(): Promise<SteppedInstance> {
  const child: ChildProcess = spawn(
    process.execPath,
    [fileURLToPath(new URL('stepped-instance.mjs', import.meta.url))],
    {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        COOKIE_SECRET: 'test secret',
        CLOCK_START: String(clock.now()),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines: Interface = createInterface({ input: child.stdout! });
  const replies = new Inbox<string>();
  lines.on('line', (line) => replies.push(line));
  void exited.then(() => replies.end('the stepped instance exited'));
  const listening = /^LISTENING (\d+)$/.exec(await replies.next());
  if (listening === null) throw new Error('the stepped instance did not say where it listens');
  const port = Number(listening[1]);
  const instance: SteppedInstance = {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/chat`,
    async advance(ms) {
      child.stdin!.write(`advance ${ms}\n`);
      expect(await replies.next()).toMatch(/^advanced \d+$/);
    },
    async kill() {
      children.delete(instance);
      child.kill('SIGKILL');
      await exited;
    },
  };
  children.add(instance);
  return instance;
}

/** The nickname's connections in Redis, on whichever instances (-1 while Redis is away). */
async function connectionsInRedis(nickname: string): Promise<number> {
  try {
    const value = await redis.admin.hget('{chat:presence}:connections', nicknameKey(nickname));
    return value === null ? 0 : Object.keys(JSON.parse(value) as object).length;
  } catch {
    return -1;
  }
}

/** When the nickname's grace period ends, in Redis (null for none, or while Redis is away). */
function leavingInRedis(nickname: string): Promise<string | null> {
  return redis.admin.zscore('{chat:presence}:leaving', nicknameKey(nickname)).catch(() => null);
}

/** Resolves once the nickname has `tabs` connections in Redis, on whichever instances. */
async function tabsInRedis(nickname: string, tabs: number): Promise<void> {
  await expect.poll(() => connectionsInRedis(nickname)).toBe(tabs);
  await Promise.all([a.app.room.settled(), b.app.room.settled()]);
}

/**
 * Once the user's last tab closed (as Redis says: its grace period began), moves the clocks past
 * the grace period, at the end of which the room announces that the user left.
 */
async function graceOver(nickname: string): Promise<void> {
  await expect.poll(() => leavingInRedis(nickname)).not.toBeNull();
  await Promise.all([a.app.room.settled(), b.app.room.settled()]);
  await elapse(GRACE_MS);
}

function instance(): Promise<TestServer> {
  return startChat({ redisUrl: redis.url, clock, logger });
}

describe.each(REDIS_KINDS)('on %s', (kind) => {
  // Skipped on a cluster until RedisBroker supports clusters (the instances' messages, notices and
  // resumes go through it).
  describe('(the whole app)', () => {
    const testRedis = useRedis(kind);

    beforeAll(async () => {
      redis = testRedis;
      a = await instance();
      b = await instance();
    });

    afterEach(async () => {
      const closed = tabs.splice(0);
      await Promise.all(closed.map(({ tab }) => tab.close().catch(() => {})));
      // Their users' grace periods end now, not in the middle of the next test.
      if (closed.length > 0) {
        for (const { nickname } of closed) await tabsInRedis(nickname, 0);
        await elapse(GRACE_MS + LIVENESS_MS);
      }
    });

    afterAll(async () => {
      await Promise.all(tabs.splice(0).map(({ tab }) => tab.close().catch(() => {})));
      await Promise.all([...children].map((child) => child.kill()));
      await Promise.all([a?.close(), b?.close()]);
    });

    describe('two instances sharing Redis', () => {
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
        await graceOver(bob);
        expect(await adaTab.until((f) => f.type !== 'message')).toEqual({
          type: 'left',
          nickname: bob,
        });
      });

      it('counts tabs across instances: one "joined" for the first anywhere, one "left" for the last', async () => {
        const watcher = await user(a, nick('watcher'));
        const cat = nick('Cat');
        const cookie = await cookieFor(a, cat);
        const onB = track(await openTab(b, cookie), cat);
        expect(await watcher.until((f) => f.type !== 'message')).toEqual({
          type: 'joined',
          nickname: cat,
        });
        const onA = track(await openTab(a, cookie), cat);
        await onB.close();
        await tabsInRedis(cat, 1);
        await elapse(2 * GRACE_MS);
        // No second "joined" and no "left": the next thing the watcher hears is this marker.
        await onA.send({ type: 'message', text: 'still here on A' });
        expect(await watcher.next()).toMatchObject({ type: 'message', text: 'still here on A' });
        await onA.close();
        await graceOver(cat);
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
        const onA = track(await openTab(a, cookie), name);
        const onB = track(await openTab(b, cookie), name);
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

      it('refuses on every instance a copy of a cookie logged out on one, even with its nickname free', async () => {
        const name = nick('copied');
        const copy = await cookieFor(a, name);
        expect((await logout(b, copy)).status).toBe(204);
        for (const server of [a, b]) {
          const whoAmI = await fetch(`${server.http}/login`, { headers: { Cookie: copy } });
          expect(await whoAmI.json()).toEqual({ nickname: null });
          expect(await handshakeStatus(server, copy)).toBe(401);
        }
        // Free, so a login gets it, but as a new session: the copy stays refused.
        const fresh = await login(a, name, { cookie: copy });
        expect(fresh.status).toBe(200);
        expect(await handshakeStatus(b, fresh.cookie!)).toBe(101);
        expect(await handshakeStatus(b, copy)).toBe(401);
      });

      it('refuses on B, with 409, a nickname that looks like one taken on A', async () => {
        const name = nick('Ada');
        expect((await login(a, name)).status).toBe(200);
        const answer = await login(b, `\u0410${name.slice(1)}`);
        expect(answer.status).toBe(409);
        expect(answer.body).toEqual({
          status: 409,
          message: 'Nickname looks too much like one already in use, please choose another',
        });
      });

      it('holds a nickname while a tab is open anywhere, and frees it after the delay once none is', async () => {
        const watcher = await user(a, nick('watcher'));
        const name = nick('Dora');
        const cookie = await cookieFor(a, name);
        const onB = track(await openTab(b, cookie, name), name);
        // Far beyond the delay: B's heartbeat holds the name for its open tab.
        await elapse(3 * RELEASE_AFTER_MS);
        expect((await login(a, name)).status).toBe(409);
        await onB.close();
        await graceOver(name);
        await watcher.until(isNotice('left', name));
        // A reload within the delay, on the other instance, gets it back...
        const reloaded = track(await openTab(a, cookie, name), name);
        await reloaded.close();
        await graceOver(name);
        await watcher.until(isNotice('left', name));
        expect((await login(b, name)).status).toBe(409);
        // ...and with no tab left anywhere it is freed once the delay has passed since, not before.
        await elapse(RELEASE_AFTER_MS - 1);
        expect((await login(b, name)).status).toBe(409);
        await elapse(1);
        expect((await login(b, name)).status).toBe(200);
        expect(await handshakeStatus(a, cookie)).toBe(401);
      });

      it('tells everyone that the users of an instance that was killed left, within four beats (4 s)', async () => {
        const c = await startSteppedInstance();
        const watcher = await user(a, nick('watcher'));
        const eve = nick('Eve');
        await user(c, eve);
        await watcher.until(isNotice('joined', eve));
        await c.kill();
        // Two beats of silence: not dead yet. The next message is the watcher's own marker.
        await elapse(DEAD_AFTER_MS - LIVENESS_MS);
        await watcher.send({ type: 'message', text: 'marker' });
        expect(
          await watcher.until((f) => isMessage('marker')(f) || f.type === 'left'),
        ).toMatchObject({
          type: 'message',
          text: 'marker',
        });
        // Silent for three beats, it is dead: the next beat of A or B removes its connections and
        // announces who left with them.
        await elapse(2 * LIVENESS_MS);
        expect(await watcher.until((f) => f.type === 'left')).toEqual({
          type: 'left',
          nickname: eve,
        });
      });

      it('announces neither "left" nor "joined" when a tab closed on one instance comes back on the other within the grace period', async () => {
        const watcher = await user(a, nick('watcher'));
        const fay = nick('Fay');
        const cookie = await cookieFor(b, fay);
        const onB = track(await openTab(b, cookie, fay), fay);
        await watcher.until(isNotice('joined', fay));
        await onB.close();
        await tabsInRedis(fay, 0);
        await elapse(GRACE_MS - LIVENESS_MS);
        const onA = track(await openTab(a, cookie), fay);
        // B's timer fires meanwhile, and finds her back.
        await elapse(2 * GRACE_MS);
        await onA.send({ type: 'message', text: 'back on A' });
        expect(await watcher.next()).toMatchObject({
          type: 'message',
          from: fay,
          text: 'back on A',
        });
        await onA.close();
        await graceOver(fay);
        expect(await watcher.next()).toEqual({ type: 'left', nickname: fay });
      });

      it('announces "left" from another instance when the one whose tab closed is killed during the grace period', async () => {
        const c = await startSteppedInstance();
        const watcher = await user(a, nick('watcher'));
        const gus = nick('Gus');
        const onC = await openTab(c, await cookieFor(c, gus), gus);
        await watcher.until(isNotice('joined', gus));
        await onC.close();
        await expect.poll(() => leavingInRedis(gus)).not.toBeNull();
        await c.kill();
        // C's timer is gone with it: A or B end the grace period a beat after it is over.
        await elapse(GRACE_MS);
        await watcher.send({ type: 'message', text: 'marker' });
        expect(
          await watcher.until((f) => isMessage('marker')(f) || f.type === 'left'),
        ).toMatchObject({
          type: 'message',
          text: 'marker',
        });
        await elapse(LIVENESS_MS);
        expect(await watcher.until((f) => f.type === 'left')).toEqual({
          type: 'left',
          nickname: gus,
        });
      });
    });

    describe.runIf(kind === 'redis')('Redis going away and coming back empty', () => {
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

        await redis.single.stop();
        // As soon as the instance noticed (at once: Redis closed the connections), never a hang.
        await expect.poll(async () => (await login(a, nick('newcomer'))).status).toBe(503);
        const refused = await login(b, nick('newcomer'));
        expect(refused.status).toBe(503);
        expect(refused.body).toEqual({ status: 503, message: UNAVAILABLE });
        expect((await fetch(`${a.http}/login`, { headers: { Cookie: adaCookie } })).status).toBe(
          503,
        );
        expect((await logout(b, bobCookie)).status).toBe(503);
        expect(await handshakeStatus(b, bobCookie)).toBe(503);

        // A message cannot be stored, so it is sent to no one: the sender gets an error frame and
        // its socket stays open.
        await adaTab.send({ type: 'message', text: 'into the void' });
        expect(await adaTab.next()).toEqual({ type: 'error', reason: NOT_SENT });
        await adaTab.send({ type: 'bogus' });
        expect(await adaTab.next()).toEqual({ type: 'error', reason: 'Unknown message type' });
        // The instances said so in their logs (once per loss, not once per request).
        const warnings = () => logger.records.filter((record) => record.level !== 'info');
        await expect
          .poll(() => warnings().some(({ message }) => /redis/i.test(message)))
          .toBe(true);
      });

      it('once Redis is back (empty): both instances recover, resend the history, and the room goes on', async () => {
        await redis.single.start();
        // Each instance's broker resubscribes and has its room send its tabs a fresh history, once
        // the store answers: the room tries it again every 500 ms (a step of its clock), so first
        // wait until both stores answer.
        for (const server of [a, b]) {
          await expect.poll(async () => (await login(server, nick('probe'))).status).toBe(200);
        }
        await elapse(500);
        // The history is empty, since Redis came back without its data; the page puts it in place
        // of what it showed.
        for (const t of [adaTab, bobTab]) {
          expect(await t.until((f) => f.type === 'history', 15_000)).toEqual({
            type: 'history',
            messages: [],
          });
        }
        // The heartbeat the recovery ran first gave the store back what it forgot: Ada's nickname
        // (refused to others)...
        expect(await redis.admin.exists(`{chat:registry}:nickname:${nicknameKey(ada)}`)).toBe(1);
        expect((await login(b, ada)).status).toBe(409);
        // Messages flow between the instances again, and are stored again.
        await adaTab.send({ type: 'message', text: 'back from A' });
        expect(await bobTab.until(isMessage('back from A'))).toMatchObject({ from: ada });
        await bobTab.send({ type: 'message', text: 'back from B' });
        expect(await adaTab.until(isMessage('back from B'))).toMatchObject({ from: bob });
        const late = await user(b, nick('late'));
        expect(late.history.map((m) => m['text'])).toEqual(['back from A', 'back from B']);
        // ...and who is present: Bob's tab closing is Bob leaving, seen on A.
        await bobTab.close();
        await graceOver(bob);
        expect(await adaTab.until(isNotice('left', bob))).toEqual({ type: 'left', nickname: bob });
        await adaTab.close();
      });
    });

    describe.runIf(kind === 'cluster')('a primary of the Redis Cluster failing over', () => {
      it('answers 503 meanwhile (never a hang, never a 500), then serves again, joins and messages across instances', async () => {
        const watcher = await user(a, nick('watcher'));
        const cookie = await cookieFor(b, nick('prober'));
        // The primary holding presence (the beats, the heartbeats, every tab's join and leave).
        const port = await redis.primaryOf('{chat:presence}:connections');
        await redis.replicated(port);
        const logins = new Set<number>();
        const handshakes = new Set<number>();
        let isOver = false;
        const probing = (async () => {
          while (!isOver) {
            logins.add((await login(a, nick('probe'))).status);
            handshakes.add(await handshakeStatus(b, cookie));
          }
        })();
        await redis.cluster.killPrimary(port);
        for (const server of [a, b]) {
          await expect
            .poll(async () => (await login(server, nick('after'))).status, { timeout: 20_000 })
            .toBe(200);
        }
        isOver = true;
        await probing;
        expect([...logins].filter((status) => status !== 200 && status !== 503)).toEqual([]);
        expect([...handshakes].filter((status) => status !== 101 && status !== 503)).toEqual([]);
        // Presence works again: a first tab on B is "joined" on A, and messages cross. Logins
        // answering again does not mean the room's subscription on B has moved to the new primary
        // yet: until it has, a tab gets UNAVAILABLE and 1013, and the page connects again.
        const hal = nick('Hal');
        const halCookie = await cookieFor(b, hal);
        let halTab: Tab | undefined;
        const refusals: string[] = [];
        await expect
          .poll(
            async () => {
              try {
                halTab = track(await openTab(b, halCookie, hal), hal);
              } catch (error) {
                refusals.push(String(error));
              }
              return halTab !== undefined;
            },
            { timeout: 20_000 },
          )
          .toBe(true);
        for (const refusal of refusals) expect(refusal).toContain(UNAVAILABLE);
        await watcher.until(isNotice('joined', hal), 15_000);
        await halTab!.send({ type: 'message', text: 'after the failover' });
        expect(await watcher.until(isMessage('after the failover'))).toMatchObject({ from: hal });
      });
    });
  });
});
