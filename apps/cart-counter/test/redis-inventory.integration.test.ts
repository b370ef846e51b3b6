import { silentLogger } from '@gale/server';
import { ManualClock, REDIS_KINDS, useRedis } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type InventoryChange, InventoryUnavailableError } from '../server/inventory.js';
import { RedisInventory, type RedisInventoryOptions } from '../server/redis-inventory.js';

// RedisInventory against a real redis-server, then a real Redis Cluster: two inventories on one
// Redis stand for the stores of two instances of the shop. On the cluster, a script whose keys
// were in two slots would be refused (CROSSSLOT) and fail these tests.

describe.each(REDIS_KINDS)('on %s', (kind) => {
  const redis = useRedis(kind);
  const inventories: RedisInventory[] = [];
  let prefixes = 0;

  afterEach(async () => {
    await Promise.all(inventories.splice(0).map((inventory) => inventory.close()));
  });

  /** Two inventories sharing one Redis and a prefix of their own (a shop of their own). */
  function twoInventories(
    options: Partial<RedisInventoryOptions> = {},
  ): [RedisInventory, RedisInventory] {
    const prefix = `inventory-test-${++prefixes}:`;
    const make = (): RedisInventory => {
      const inventory = new RedisInventory({
        url: redis.url,
        prefix,
        stock: 10,
        reservationTtlMs: 15 * 60_000,
        logger: silentLogger,
        ...options,
      });
      inventories.push(inventory);
      return inventory;
    };
    return [make(), make()];
  }

  function changesOf(inventory: RedisInventory): InventoryChange[] {
    const changes: InventoryChange[] = [];
    inventory.onChange((change) => changes.push(change));
    return changes;
  }

  describe('RedisInventory', () => {
    it('shares the stock: a reservation on one is seen by the other, versions grow', async () => {
      const [a, b] = twoInventories();
      const start = await a.status(null);
      expect(start).toMatchObject({ inventoryCount: 10, inCart: false, expiresAt: null });
      const reserved = await a.reserve('alice');
      expect(reserved).toMatchObject({ ok: true, inventoryCount: 9, inCart: true });
      expect(reserved.version).toBe(start.version + 1);
      expect(reserved.expiresAt).toBeGreaterThan(Date.now() + 14 * 60_000);
      expect(await b.status('alice')).toEqual({
        inventoryCount: 9,
        version: reserved.version,
        inCart: true,
        expiresAt: reserved.expiresAt,
      });
      // Idempotent on either instance: nothing changes, the TTL is not extended.
      expect(await b.reserve('alice')).toEqual(reserved);
      const released = await b.release('alice');
      expect(released).toMatchObject({ inventoryCount: 10, inCart: false, expiresAt: null });
      expect(released.version).toBe(reserved.version + 1);
      expect(await a.release('alice')).toEqual(released);
    });

    it('reports each change once, on the instance that made it', async () => {
      const [a, b] = twoInventories();
      const [onA, onB] = [changesOf(a), changesOf(b)];
      await a.reserve('alice');
      await b.reserve('bob');
      await b.reserve('bob');
      await a.release('bob');
      expect(onA.map(({ session, cause }) => [session, cause])).toEqual([
        ['alice', 'reserved'],
        ['bob', 'released'],
      ]);
      expect(onB.map(({ session, cause }) => [session, cause])).toEqual([['bob', 'reserved']]);
    });

    it('never oversells: 10 concurrent reservations split over two instances against 5 left', async () => {
      const [a, b] = twoInventories();
      for (let i = 0; i < 5; i++) await a.reserve(`holder-${i}`);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).reserve(`buyer-${i}`)),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      expect(results.filter((r) => !r.ok)).toHaveLength(5);
      expect(new Set(results.filter((r) => r.ok).map((r) => r.version)).size).toBe(5);
      expect((await b.status(null)).inventoryCount).toBe(0);
    });

    it('releases an expired reservation exactly once, by whichever instance sweeps first', async () => {
      const clock = new ManualClock();
      const [a, b] = twoInventories({
        stock: 1,
        reservationTtlMs: 300,
        sweepIntervalMs: 100,
        clock,
      });
      const [onA, onB] = [changesOf(a), changesOf(b)];
      const reserved = await a.reserve('alice');
      expect(reserved).toMatchObject({ ok: true, inventoryCount: 0, expiresAt: 300 });
      expect(await b.reserve('bob')).toMatchObject({ ok: false, reason: 'sold-out' });
      // Held until its time is up, by the clock the inventories were given...
      clock.advance(299);
      expect(await b.status('alice')).toMatchObject({ inventoryCount: 0, inCart: true });
      // ...then, within a sweep interval, the sweeps of both instances: one of them releases it.
      clock.advance(100);
      await expect
        .poll(() => [...onA, ...onB].filter((change) => change.cause === 'expired'))
        .toEqual([
          {
            session: 'alice',
            cause: 'expired',
            inventoryCount: 1,
            version: reserved.version + 1,
            inCart: false,
            expiresAt: null,
          },
        ]);
      expect(await b.status('alice')).toMatchObject({ inventoryCount: 1, inCart: false });
    });

    it.runIf(kind === 'redis')(
      'rejects with InventoryUnavailableError at once while Redis is down, then recovers empty',
      async () => {
        const [a, b] = twoInventories({ stock: 3 });
        await a.reserve('alice');
        const before = await b.reserve('bob');
        expect(before.inventoryCount).toBe(1);
        await redis.single.stop();
        try {
          for (const inventory of [a, b]) {
            await expect(inventory.reserve('carol')).rejects.toBeInstanceOf(
              InventoryUnavailableError,
            );
            await expect(inventory.status(null)).rejects.toBeInstanceOf(InventoryUnavailableError);
          }
        } finally {
          await redis.single.start();
        }
        // An emptied Redis is a full shelf again (reservations were in it), with larger versions.
        await expect
          .poll(() => a.status('alice').catch(() => null))
          .toMatchObject({
            inventoryCount: 3,
            inCart: false,
          });
        const after = await a.status(null);
        expect(after.version).toBeGreaterThan(before.version);
        await expect.poll(() => b.reserve('carol').catch(() => null)).toMatchObject({ ok: true });
        expect(await a.status('carol')).toMatchObject({ inventoryCount: 2, inCart: true });
      },
    );

    it('refuses a stock, TTL or sweep interval that is not a suitable integer', () => {
      const base = { url: redis.url, stock: 1, reservationTtlMs: 1000 };
      expect(() => new RedisInventory({ ...base, stock: -1 })).toThrow(RangeError);
      expect(() => new RedisInventory({ ...base, reservationTtlMs: 0 })).toThrow(RangeError);
      expect(() => new RedisInventory({ ...base, sweepIntervalMs: 0.5 })).toThrow(RangeError);
    });
  });
});
