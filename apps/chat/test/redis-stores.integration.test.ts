import { silentLogger } from '@gale/server';
import { ManualClock, REDIS_KINDS, useRedis } from '@gale/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../server/errors.js';
import { RedisHistory } from '../server/redis-history.js';
import { RedisNicknameRegistry } from '../server/redis-nickname-registry.js';
import { RedisPresence } from '../server/redis-presence.js';
import { RedisStore } from '../server/redis-store.js';
import { historyContract, presenceContract, registryContract } from './store-contracts.js';

// The Redis stores against a real redis-server, then a real Redis Cluster: the same contracts as
// the in-memory ones, with two connections standing for two server processes, then what only a
// shared store has to do: notice dead processes, get back what a restart lost, fail fast while
// Redis is down. On the cluster, every script and transaction must touch keys of one slot (Redis
// refuses the others with CROSSSLOT, which would fail these tests).
describe.each(REDIS_KINDS)('on %s', (kind) => {
  const redis = useRedis(kind);
  const stores: RedisStore[] = [];
  let unique = 0;

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  /**
   * Two connections (two "processes") with a key prefix no other test uses, measuring deadlines by
   * `clock` (by Redis's own clock without one).
   */
  async function twoStores(clock?: ManualClock): Promise<readonly [RedisStore, RedisStore]> {
    unique += 1;
    const prefix = `test${unique}:`;
    const pair = [
      new RedisStore({ url: redis.url, prefix, logger: silentLogger, clock }),
      new RedisStore({ url: redis.url, prefix, logger: silentLogger, clock }),
    ] as const;
    stores.push(...pair);
    await Promise.all(pair.map((store) => store.ready));
    return pair;
  }

  function pairOf<T>(make: (store: RedisStore) => T) {
    return async (clock?: ManualClock) => {
      const [one, two] = await twoStores(clock);
      return [make(one), make(two)] as const;
    };
  }

  const redisNow = () => redis.now();

  describe('RedisNicknameRegistry', () => {
    registryContract(pairOf((store) => new RedisNicknameRegistry(store)));

    it('takes back, on renewal, a nickname the store forgot (Redis restarted empty)', async () => {
      const [one, two] = (await pairOf((store) => new RedisNicknameRegistry(store))(
        new ManualClock(),
      )) as [RedisNicknameRegistry, RedisNicknameRegistry];
      expect(await one.claim('ada', 'a', 60_000)).toBe(true);
      await redis.flushAll();
      expect(await one.renew('ada', 'a', 60_000)).toBe(true);
      expect(await two.claim('ada', 'b')).toBe(false);
    });

    it("measures holds by Redis's clock when the store has none", async () => {
      const [store] = await twoStores();
      const registry = new RedisNicknameRegistry(store);
      const before = await redisNow();
      expect(await registry.claim('ada', 'a', 60_000)).toBe(true);
      const after = await redisNow();
      const held = await redis.admin.get(`{${store.prefix}registry}:nickname:ada`);
      const until = Number(held?.split(' ')[0]);
      expect(held).toMatch(/^\d+ owner:a\nada$/);
      expect(until).toBeGreaterThanOrEqual(before + 60_000);
      expect(until).toBeLessThanOrEqual(after + 60_000);
    });
  });

  describe('RedisNicknameRegistry revocations', () => {
    it("are kept under {<prefix>registry}:revoked:<owner> until they lapse (by Redis's clock when the store has none), then tidied away", async () => {
      const [store] = await twoStores();
      const registry = new RedisNicknameRegistry(store);
      const before = await redisNow();
      await registry.revoke('a', 60_000);
      const after = await redisNow();
      const until = Number(await redis.admin.get(`{${store.prefix}registry}:revoked:a`));
      expect(until).toBeGreaterThanOrEqual(before + 60_000);
      expect(until).toBeLessThanOrEqual(after + 60_000);
      // Redis deletes it a minute after it lapsed.
      const ttl = await redis.admin.pttl(`{${store.prefix}registry}:revoked:a`);
      expect(ttl).toBeGreaterThan(60_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
      expect(await registry.isRevoked('a')).toBe(true);
      expect(await registry.claim('ada', 'a')).toBe(false);
    });
  });

  describe('RedisPresence', () => {
    presenceContract(pairOf((store) => new RedisPresence(store)));

    it('announces the users of a process that stopped beating as left, at the next refresh', async () => {
      const clock = new ManualClock();
      const [storeOne, storeTwo] = await twoStores(clock);
      const dying = new RedisPresence(storeOne, { deadAfterMs: 50 });
      const alive = new RedisPresence(storeTwo);
      expect(await dying.join('Ada', 'tab1')).toBe(true);
      expect(await alive.join('Bob', 'tab2')).toBe(true);
      // Cy also has a tab on the live process: not gone with the dead one.
      expect(await dying.join('Cy', 'tab3')).toBe(true);
      expect(await alive.join('Cy', 'tab4')).toBe(false);
      const refresh = () =>
        alive.refresh([
          { nickname: 'Bob', connectionId: 'tab2' },
          { nickname: 'Cy', connectionId: 'tab4' },
        ]);
      // Dead once it has not beaten for 50 ms, and not before.
      clock.advance(50);
      expect(await refresh()).toEqual({ joined: [], left: [] });
      clock.advance(1);
      expect(await refresh()).toEqual({ joined: [], left: ['Ada'] });
      expect(await alive.count('ada')).toBe(0);
      expect(await alive.count('cy')).toBe(1);
      expect(await alive.count('bob')).toBe(1);
      // Swept once: the next refresh reports nothing.
      expect((await refresh()).left).toEqual([]);
    });

    it('announces the users of a process that stopped beating as left, at the next beat of another', async () => {
      const clock = new ManualClock();
      const [storeOne, storeTwo] = await twoStores(clock);
      const dying = new RedisPresence(storeOne, { deadAfterMs: 3000 });
      const alive = new RedisPresence(storeTwo, { deadAfterMs: 3000 });
      expect(await dying.join('Ada', 'tab1')).toBe(true);
      expect(await dying.join('Cy', 'tab2')).toBe(true);
      expect(await alive.join('Cy', 'tab3')).toBe(false);
      // It beats at 1 s, then dies; dead once 3 s passed since, at the first beat after that.
      clock.advance(1000);
      await Promise.all([dying.beat(), alive.beat()]);
      for (let second = 2; second <= 4; second++) {
        clock.advance(1000);
        expect(await alive.beat()).toEqual({ left: [], isForgotten: false });
      }
      clock.advance(1000);
      expect(await alive.beat()).toEqual({ left: ['Ada'], isForgotten: false });
      expect(await alive.count('ada')).toBe(0);
      expect(await alive.count('cy')).toBe(1);
      expect((await alive.beat()).left).toEqual([]);
      // Back after all (it was only slow): the store forgot it, so it says so, and its room
      // refreshes at once, which announces its users again.
      expect((await dying.beat()).isForgotten).toBe(true);
      const again = await dying.refresh([
        { nickname: 'Ada', connectionId: 'tab1' },
        { nickname: 'Cy', connectionId: 'tab2' },
      ]);
      expect(again).toEqual({ joined: ['Ada'], left: [] });
    });

    it('says on the first beat, and after Redis restarted empty, that it did not know the process', async () => {
      const [store] = await twoStores(new ManualClock());
      const presence = new RedisPresence(store);
      expect(await presence.beat()).toEqual({ left: [], isForgotten: true });
      expect(await presence.beat()).toEqual({ left: [], isForgotten: false });
      await redis.flushAll();
      expect((await presence.beat()).isForgotten).toBe(true);
    });

    it('ends on a beat of any process a grace period over for a beat (its own process died), once', async () => {
      const clock = new ManualClock();
      const [storeOne, storeTwo] = await twoStores(clock);
      const dying = new RedisPresence(storeOne);
      const alive = new RedisPresence(storeTwo, { takeOverAfterMs: 1000 });
      await dying.join('Ada', 'tab1');
      expect(await dying.leave('ada', 'tab1', 5000)).toBe(true);
      // Over at 5 s; its own process's timer would go first, so the others wait a beat.
      clock.advance(5999);
      expect((await alive.beat()).left).toEqual([]);
      clock.advance(1);
      expect((await alive.beat()).left).toEqual(['Ada']);
      // Already over: the timer of its process (had it lived), or another beat, announce nothing.
      expect(await dying.confirmLeave('ada', 'tab1')).toBe(false);
      expect((await alive.beat()).left).toEqual([]);
      expect(await alive.join('ada', 'tab2')).toBe(true);
    });

    it('takes a connection that a refresh gives back within the grace period for no join', async () => {
      const [store] = await twoStores(new ManualClock());
      const presence = new RedisPresence(store);
      await presence.join('Ada', 'tab1');
      expect(await presence.leave('ada', 'tab1', 5000)).toBe(true);
      expect(await presence.refresh([{ nickname: 'Ada', connectionId: 'tab2' }])).toEqual({
        joined: [],
        left: [],
      });
      expect(await presence.confirmLeave('ada', 'tab1')).toBe(false);
      expect(await presence.count('ada')).toBe(1);
    });

    it("measures deadlines by Redis's clock when the store has none", async () => {
      const [store] = await twoStores();
      const presence = new RedisPresence(store, { deadAfterMs: 15_000 });
      const before = await redisNow();
      await presence.join('Ada', 'tab1');
      const after = await redisNow();
      const deadAt = Number(
        await redis.admin.zscore(`{${store.prefix}presence}:instances`, presence.instanceId),
      );
      expect(deadAt).toBeGreaterThanOrEqual(before + 15_000);
      expect(deadAt).toBeLessThanOrEqual(after + 15_000);
    });

    it('gives the store back the connections it forgot (Redis restarted empty), as joined', async () => {
      const [store] = await twoStores();
      const presence = new RedisPresence(store);
      await presence.join('Ada', 'tab1');
      await presence.join('Ada', 'tab2');
      await redis.flushAll();
      const mine = [
        { nickname: 'Ada', connectionId: 'tab1' },
        { nickname: 'Ada', connectionId: 'tab2' },
      ];
      expect(await presence.refresh(mine)).toEqual({ joined: ['Ada'], left: [] });
      expect(await presence.count('ADA')).toBe(2);
      expect(await presence.leave('ada', 'tab1', 5000)).toBe(false);
      expect(await presence.leave('ada', 'tab2', 5000)).toBe(true);
    });

    it('removes a connection whose leave was lost, as left if it was the last', async () => {
      const [store] = await twoStores();
      const presence = new RedisPresence(store);
      await presence.join('Ada', 'tab1');
      await presence.join('Bob', 'tab2');
      await presence.join('Bob', 'tab3');
      const changes = await presence.refresh([{ nickname: 'Bob', connectionId: 'tab3' }]);
      expect(changes).toEqual({ joined: [], left: ['Ada'] });
      expect(await presence.count('ada')).toBe(0);
      expect(await presence.count('bob')).toBe(1);
    });
  });

  describe('RedisHistory', () => {
    historyContract(pairOf((store) => new RedisHistory(store)));
  });

  describe.runIf(kind === 'redis')('while Redis is down', () => {
    it('fails at once with StoreUnavailableError, and works again once Redis is back', async () => {
      const [store] = await twoStores();
      const registry = new RedisNicknameRegistry(store);
      const history = new RedisHistory(store);
      expect(await registry.claim('ada', 'a')).toBe(true);
      await redis.single.stop();
      await expect
        .poll(() => registry.claim('bob', 'b').catch((error: unknown) => error))
        .toBeInstanceOf(StoreUnavailableError);
      await expect(history.last(50)).rejects.toBeInstanceOf(StoreUnavailableError);
      await redis.single.start();
      await expect
        .poll(() => registry.claim('bob', 'b').catch(() => 'down'), { timeout: 10_000 })
        .toBe(true);
      expect(await history.last(50)).toEqual([]);
    });
  });
});
