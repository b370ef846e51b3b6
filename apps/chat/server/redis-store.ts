import type { Clock } from '@gale/io/clock';
import { connectRedis } from '@gale/redis';
import type { Logger } from '@gale/server';
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from './errors.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /**
   * The Redis server, e.g. `redis://127.0.0.1:6379`, or a Redis Cluster given by some of its
   * nodes, `redis+cluster://host:port,host:port` (`connectRedis` of `@gale/redis`).
   */
  readonly url: string;
  /**
   * Prepended to every key, and part of the hash tags that keep each store's keys in one slot of
   * a Redis Cluster (`{chat:presence}:…`, see `tagged`). Default `chat:`.
   */
  readonly prefix?: string;
  /** Where a lost connection is reported (once per loss). Default `console`. */
  readonly logger?: Logger;
  /**
   * What the stores' deadlines (nickname holds, the heartbeats of server processes) are measured
   * by. Default: Redis's own clock (TIME), the one every server process agrees on whatever its
   * own clock says. Tests give every instance one clock that they step; its `now()` then counts
   * milliseconds from the epoch Redis's clock counts from if processes using Redis's clock share
   * this Redis too (a `ManualClock` started at `Date.now()`).
   */
  readonly clock?: Clock | undefined;
}

// Replies of Redis that mean "not now" rather than "this script is wrong": a cluster failing over
// (CLUSTERDOWN, TRYAGAIN, a replica that is not promoted yet), a server loading its data.
const TRANSIENT_REPLY = /^(LOADING|BUSY|OOM|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * The Redis connection the chat's Redis stores share, and their key prefix. While the connection
 * is down, commands fail at once with `StoreUnavailableError` (never queued for later, so no
 * request hangs and nothing runs long after its caller gave up); only before the very first
 * connection they wait for it, so that a server starting beside Redis does not refuse its first
 * requests. ioredis reconnects by itself, every 2 s at most. On a Redis Cluster, a command whose
 * primary died is retried by ioredis while a replica takes over (16 tries, 100 ms apart), then
 * fails with `StoreUnavailableError` too.
 */
export class RedisStore {
  /** Prepended to every key. */
  readonly prefix: string;
  /** Resolves once connected the first time. */
  readonly ready: Promise<void>;
  readonly #redis: Redis | Cluster;
  readonly #clock: Clock | undefined;
  #hasBeenReady = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'chat:';
    this.#clock = options.clock;
    const logger = options.logger ?? console;
    this.#redis = connectRedis(
      options.url,
      {
        // Queues commands only until the first connection (see `run`); each failed connection
        // attempt rejects what is queued (maxRetriesPerRequest: 0).
        maxRetriesPerRequest: 0,
        // A command cut off by a lost connection fails; it is not replayed once Redis is back
        // (its caller was answered 503 long ago).
        autoResendUnfulfilledCommands: false,
        commandTimeout: 5000,
        retryStrategy: (times) => Math.min(times * 100, 2000),
      },
      // A cluster that cannot be reached at all is retried as one server is.
      { clusterRetryStrategy: (times) => Math.min(times * 100, 2000) },
    );
    let isLost = false;
    this.#redis.on('error', (error: Error) => {
      if (!isLost) logger.warn(`chat: redis: ${error.message}`);
      isLost = true;
    });
    // A cluster's node that failed (a primary died: a replica takes over), once per node.
    const failedNodes = new Set<string>();
    this.#redis.on('node error', (error: Error, node: string) => {
      if (!failedNodes.has(node)) logger.warn(`chat: redis: ${node}: ${error.message}`);
      failedNodes.add(node);
    });
    this.#redis.on('ready', () => {
      if (isLost) logger.info('chat: redis: connected again');
      isLost = false;
      this.#hasBeenReady = true;
    });
    this.ready = new Promise((resolve) => this.#redis.once('ready', () => resolve()));
  }

  /**
   * Runs `command` on the connection. Rejects with `StoreUnavailableError` when Redis cannot be
   * reached (at once while it is known to be down) or cannot answer right now (a cluster failing
   * over); other errors Redis itself answered (a script error, keys in two slots: a bug) are
   * passed on as they are.
   */
  async run<T>(command: (redis: Redis | Cluster) => Promise<T>): Promise<T> {
    if (this.#hasBeenReady && this.#redis.status !== 'ready') throw new StoreUnavailableError();
    try {
      return await command(this.#redis);
    } catch (error) {
      if (
        error instanceof Error &&
        error.name === 'ReplyError' &&
        !TRANSIENT_REPLY.test(error.message)
      ) {
        throw error;
      }
      throw new StoreUnavailableError({ cause: error });
    }
  }

  /**
   * The start of the keys of one store that its scripts touch together: `{<prefix><group>}:`,
   * e.g. `{chat:presence}:`. The braces are a hash tag: on a Redis Cluster only what is between
   * them picks the slot, so every key of the group is in one slot (on one primary), as a script
   * needs. Each group is one slot, whatever its size.
   */
  tagged(group: string): string {
    return `{${this.prefix}${group}}:`;
  }

  /**
   * Runs a Lua script (EVAL: sent in order with the other commands, and cached by Redis). Every
   * key it touches must be in `keys`, and in one slot on a cluster (see `tagged`).
   */
  evaluate(script: string, keys: readonly string[], args: readonly (string | number)[]) {
    return this.run((redis) => redis.eval(script, keys.length, ...keys, ...args));
  }

  /**
   * The `now` argument of a script that measures deadlines (see {@link luaNow}): the clock's time
   * in milliseconds, or '' for Redis's own clock.
   */
  now(): string {
    return this.#clock === undefined ? '' : String(Math.floor(this.#clock.now()));
  }

  /** Closes the connection (waiting for the replies still due). */
  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}

/**
 * Lua that declares `now`, in milliseconds: `ARGV[argument]` (what `RedisStore.now()` gave), or
 * when that is empty Redis's clock, so that server processes whose clocks disagree still agree on
 * deadlines. Declared first in the scripts that need it.
 */
export function luaNow(argument: number): string {
  return `
local now = tonumber(ARGV[${argument}])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
`;
}
