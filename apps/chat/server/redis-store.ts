import type { Logger } from '@gale/server';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from './errors.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379`. */
  readonly url: string;
  /** Prepended to every key. Default `chat:`. */
  readonly prefix?: string;
  /** Where a lost connection is reported (once per loss). Default `console`. */
  readonly logger?: Logger;
}

/**
 * The Redis connection the chat's Redis stores share, and their key prefix. While the connection
 * is down, commands fail at once with `StoreUnavailableError` (never queued for later, so no
 * request hangs and nothing runs long after its caller gave up); only before the very first
 * connection they wait for it, so that a server starting beside Redis does not refuse its first
 * requests. ioredis reconnects by itself, every 2 s at most.
 */
export class RedisStore {
  /** Prepended to every key. */
  readonly prefix: string;
  /** Resolves once connected the first time. */
  readonly ready: Promise<void>;
  readonly #redis: Redis;
  #hasBeenReady = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'chat:';
    const logger = options.logger ?? console;
    this.#redis = new Redis(options.url, {
      // Queues commands only until the first connection (see `run`); each failed connection
      // attempt rejects what is queued (maxRetriesPerRequest: 0).
      maxRetriesPerRequest: 0,
      // A command cut off by a lost connection fails; it is not replayed once Redis is back
      // (its caller was answered 503 long ago).
      autoResendUnfulfilledCommands: false,
      commandTimeout: 5000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    let isLost = false;
    this.#redis.on('error', (error: Error) => {
      if (!isLost) logger.warn(`chat: redis: ${error.message}`);
      isLost = true;
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
   * reached (at once while it is known to be down); errors Redis itself answered (a script
   * error: a bug) are passed on as they are.
   */
  async run<T>(command: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.#hasBeenReady && this.#redis.status !== 'ready') throw new StoreUnavailableError();
    try {
      return await command(this.#redis);
    } catch (error) {
      if (error instanceof Error && error.name === 'ReplyError') throw error;
      throw new StoreUnavailableError({ cause: error });
    }
  }

  /** Runs a Lua script (EVAL: sent in order with the other commands, and cached by Redis). */
  evaluate(script: string, keys: readonly string[], args: readonly (string | number)[]) {
    return this.run((redis) => redis.eval(script, keys.length, ...keys, ...args));
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
 * `now` in milliseconds from Redis's clock, so that server processes whose clocks disagree still
 * agree on deadlines (declared first in the scripts that need it).
 */
export const LUA_NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;
