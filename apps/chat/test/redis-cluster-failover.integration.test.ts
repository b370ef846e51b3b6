import { recordingLogger, useRedis } from '@gale/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../server/errors.js';
import type { ChatMessage } from '../server/history.js';
import { RedisHistory } from '../server/redis-history.js';
import { RedisNicknameRegistry } from '../server/redis-nickname-registry.js';
import { RedisPresence } from '../server/redis-presence.js';
import { RedisStore } from '../server/redis-store.js';

// The Redis stores of two server processes on a real Redis Cluster whose primary holding the
// presence keys is killed while they work: ioredis finds the replica that took over by itself,
// the stores fail meanwhile only with StoreUnavailableError (503 on the HTTP routes, an error
// frame on the socket, 1013 for a handshake), then serve again, with what was written before.
const redis = useRedis('cluster');
const logger = recordingLogger();
const stores: RedisStore[] = [];

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
});

function instance(): {
  presence: RedisPresence;
  registry: RedisNicknameRegistry;
  history: RedisHistory;
} {
  const store = new RedisStore({ url: redis.url, prefix: 'failover:', logger });
  stores.push(store);
  return {
    // Not taken for dead while the failover lasts (the room would then give back its connections
    // at its next beat: scale-out.integration.test.ts).
    presence: new RedisPresence(store, { deadAfterMs: 60_000 }),
    registry: new RedisNicknameRegistry(store),
    history: new RedisHistory(store),
  };
}

const message: ChatMessage = {
  type: 'message',
  from: 'Ada',
  text: 'before',
  at: new Date(0).toISOString(),
};

describe('the Redis stores, when the primary holding presence dies', () => {
  it('fail with StoreUnavailableError during the failover, then serve again by themselves', async () => {
    const one = instance();
    const two = instance();
    await Promise.all(stores.map((store) => store.ready));
    expect(await one.presence.join('Ada', 'tab1')).toBe(true);
    expect(await one.registry.claim('Ada', 'a')).toBe(true);
    await one.history.append(message);
    const port = await redis.primaryOf('{failover:presence}:connections');
    // (Replication is asynchronous: what the replica has not got yet is lost with the primary.)
    await redis.replicated(port);

    // Both processes keep working while the primary dies and a replica takes over.
    const errors: unknown[] = [];
    let isOver = false;
    const work = async (side: typeof one, name: string): Promise<void> => {
      for (let i = 0; !isOver; i++) {
        try {
          await side.presence.join(`${name}${i}`, `${name}-tab${i}`);
          await side.presence.beat();
          await side.presence.leave(`${name}${i}`, `${name}-tab${i}`, 0);
        } catch (error) {
          errors.push(error);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const working = [work(one, 'one'), work(two, 'two')];
    await redis.cluster.killPrimary(port);
    expect(await redis.primaryOf('{failover:presence}:connections')).not.toBe(port);

    // Served again, by the same connections (nobody restarted anything)...
    await expect
      .poll(() => two.presence.join('Bob', 'tab2').catch(() => 'down'), { timeout: 20_000 })
      .toBe(true);
    isOver = true;
    await Promise.all(working);
    // ...having failed only as "unavailable" meanwhile (a script error would be a bug).
    for (const error of errors) expect(error).toBeInstanceOf(StoreUnavailableError);
    // What was written before the primary died is on the replica that took over.
    expect(await two.presence.count('ADA')).toBe(1);
    expect(await two.registry.claim('ada', 'b')).toBe(false);
    expect(await two.registry.holder('ada')).toBe('Ada');
    expect(await two.history.last(50)).toEqual([message]);
    // Still atomic across processes: of many concurrent first tabs, exactly one joined.
    const joins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).presence.join('Cy', `cy-tab${i}`)),
    );
    expect(joins.filter(Boolean)).toHaveLength(1);
    expect(await one.presence.count('cy')).toBe(20);
    // Said once in the log: which node failed.
    expect(logger.lines.join('\n')).toContain(`127.0.0.1:${port}`);
  });
});
