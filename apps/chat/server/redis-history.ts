import type { ChatMessage, History } from './history.js';
import type { RedisStore } from './redis-store.js';

/**
 * The room's history in Redis, shared by every server process: one list, `<prefix>history`, of
 * JSON messages, oldest first, trimmed to its capacity on every append (`RPUSH` and `LTRIM` in
 * one transaction: one key, so one slot on a Redis Cluster, needing no hash tag).
 */
export class RedisHistory implements History {
  readonly #store: RedisStore;
  readonly #capacity: number;

  /** Keeps at most `capacity` messages (50 by default, what a newcomer is shown). */
  constructor(store: RedisStore, capacity = 50) {
    this.#store = store;
    this.#capacity = capacity;
  }

  get #key(): string {
    return `${this.#store.prefix}history`;
  }

  async append(message: ChatMessage): Promise<void> {
    const replies = await this.#store.run((redis) =>
      redis
        .multi()
        .rpush(this.#key, JSON.stringify(message))
        .ltrim(this.#key, -this.#capacity, -1)
        .exec(),
    );
    const failed = replies?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  async last(n: number): Promise<ChatMessage[]> {
    const count = Math.max(0, Math.min(Math.floor(n), this.#capacity));
    if (count === 0) return [];
    const items = await this.#store.run((redis) => redis.lrange(this.#key, -count, -1));
    return items.map((item) => JSON.parse(item) as ChatMessage);
  }
}
