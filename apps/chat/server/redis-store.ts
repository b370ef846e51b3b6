import type { Clock } from '@gale/io/clock';
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
  /**
   * What the stores' deadlines (nickname holds, the heartbeats of server processes) are measured
   * by. Default: Redis's own clock (TIME), the one every server process agrees on whatever its
   * own clock says. Tests give every instance one clock that they step; its `now()` then counts
   * milliseconds from the epoch Redis's clock counts from if processes using Redis's clock share
   * this Redis too (a `ManualClock` started at `Date.now()`).
   */
  readonly clock?: Clock | undefined;
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
  readonly #clock: Clock | undefined;
  #hasBeenReady = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'chat:';
    this.#clock = options.clock;
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
