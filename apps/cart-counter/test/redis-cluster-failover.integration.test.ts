import { recordingLogger, useRedis } from '@gale/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { InventoryUnavailableError } from '../server/inventory.js';
import { RedisInventory } from '../server/redis-inventory.js';

// The inventories of two instances on a real Redis Cluster whose primary holding the shop's keys
// is killed while they sell: ioredis finds the replica that took over by itself, the inventories
// fail meanwhile only with InventoryUnavailableError (503 on /cart, 1013 for a new viewer), then
// serve again, with the stock and carts written before, and still never oversell.
const redis = useRedis('cluster');
const logger = recordingLogger();
const inventories: RedisInventory[] = [];

afterAll(async () => {
  await Promise.all(inventories.map((inventory) => inventory.close()));
});

function instance(): RedisInventory {
  const inventory = new RedisInventory({
    url: redis.url,
    prefix: 'failover:',
    stock: 20,
    reservationTtlMs: 15 * 60_000,
    logger,
  });
  inventories.push(inventory);
  return inventory;
}

describe('RedisInventory, when the primary holding the shop dies', () => {
  it('fails with InventoryUnavailableError during the failover, then serves again by itself', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all(inventories.map((inventory) => inventory.ready));
    for (let i = 0; i < 5; i++) await a.reserve(`holder-${i}`);
    const before = await b.status('holder-0');
    expect(before).toMatchObject({ inventoryCount: 15, inCart: true });
    const port = await redis.primaryOf('{failover:shop}:stock');
    // (Replication is asynchronous: what the replica has not got yet is lost with the primary.)
    await redis.replicated(port);

    // Both instances keep adding and removing while the primary dies and a replica takes over.
    const errors: unknown[] = [];
    const touched: [RedisInventory, string][] = [];
    let isOver = false;
    const work = async (inventory: RedisInventory, name: string): Promise<void> => {
      for (let i = 0; !isOver; i++) {
        try {
          touched.push([inventory, `${name}-${i}`]);
          await inventory.reserve(`${name}-${i}`);
          await inventory.release(`${name}-${i}`);
        } catch (error) {
          errors.push(error);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const working = [work(a, 'a'), work(b, 'b')];
    await redis.cluster.killPrimary(port);
    expect(await redis.primaryOf('{failover:shop}:stock')).not.toBe(port);

    // Served again, by the same connections (nobody restarted anything)...
    await expect
      .poll(() => b.status(null).catch(() => 'down'), { timeout: 20_000 })
      .toMatchObject({ inventoryCount: expect.any(Number) });
    isOver = true;
    await Promise.all(working);
    // ...having failed only as "unavailable" meanwhile (a script error would be a bug).
    for (const error of errors) expect(error).toBeInstanceOf(InventoryUnavailableError);
    // What was written before the primary died is on the replica that took over; the workers'
    // copies may still be in carts (a reserve that got through, then a release that did not).
    await Promise.all(touched.map(([inventory, session]) => inventory.release(session)));
    const after = await a.status('holder-0');
    expect(after).toMatchObject({ inventoryCount: 15, inCart: true });
    expect(after.version).toBeGreaterThan(before.version);
    // Still atomic across instances: 10 concurrent adds against 5 left, exactly 5 succeed.
    for (let i = 5; i < 15; i++) await b.reserve(`holder-${i}`);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).reserve(`buyer-${i}`)),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(5);
    expect((await a.status(null)).inventoryCount).toBe(0);
    // Said once in the log: which node failed.
    expect(logger.lines.join('\n')).toContain(`127.0.0.1:${port}`);
  });
});
