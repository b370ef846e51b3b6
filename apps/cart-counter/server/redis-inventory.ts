import { type Clock, systemClock, unref } from '@gale/io/clock';
import { connectRedis } from '@gale/redis';
import type { Logger } from '@gale/server';
import type { Cluster, Redis } from 'ioredis';
import {
  type CartStatus,
  type Inventory,
  type InventoryChange,
  InventoryUnavailableError,
  type ReserveResult,
} from './inventory.js';

/** Options of `RedisInventory`. */
export interface RedisInventoryOptions {
  /**
   * The Redis server, as `redis://host:port`, or a Redis Cluster given by some of its nodes, as
   * `redis+cluster://host:port,host:port` (the `REDIS_URL` variable; `connectRedis` of
   * `@gale/redis`).
   */
  readonly url: string;
  /**
   * The stock to put on the shelf when Redis holds none (a new or emptied Redis): an integer, 0
   * or more. When the shelf exists already, it is kept (the first instance to arrive set it).
   */
  readonly stock: number;
  /** How long a reservation lasts, in milliseconds: an integer, 1 or more. */
  readonly reservationTtlMs: number;
  /**
   * Prefix of every key, inside their hash tag. Default `burts:` (`{burts:shop}:stock`,
   * `{burts:shop}:version`, `{burts:shop}:carts`: one slot on a Redis Cluster).
   */
  readonly prefix?: string;
  /**
   * How often this instance looks for reservations that ran out, at the latest, in ms. It also
   * looks at the moment the earliest one it knows of runs out. Default 1000.
   */
  readonly sweepIntervalMs?: number;
  /** How long the first commands wait for the first connection, in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Where connection trouble is logged (once per outage). Default `console`. */
  readonly logger?: Logger;
  /**
   * Where the sweep and connection timers come from and, when given, the time reservations are
   * measured by (its `now()` read as milliseconds since the epoch). By default the system's
   * timers and Redis's own clock, the one every instance agrees on whatever its own clock says.
   * Tests give every instance one clock that they step.
   */
  readonly clock?: Clock | undefined;
}

// Every script starts with this prelude, so that each call is one atomic step that
//   1. puts the initial stock on the shelf if Redis has none (SET NX: an emptied Redis is a full
//      shelf and empty carts again);
//   2. starts the version at Redis's clock in microseconds if it has none, so that versions after
//      a restart of an empty Redis are still larger than any handed out before (the page keeps
//      the newest); after that every change INCRs it;
//   3. releases the reservations whose time ran out (by Redis's clock, one clock for every
//      instance, unless the inventory was given one), each one a change with its own version,
//      returned to the caller to publish.
// KEYS: the stock (an integer string), the version (an integer string), the carts (a sorted set:
// session → expiry in ms since the epoch): every key a script touches, all three under one hash
// tag, `{<prefix>shop}`, so that on a Redis Cluster they are in one slot (one primary), as one
// script needs. ARGV[1]: the initial stock, ARGV[2]: the session ('' for
// none), ARGV[3]: now in ms ('' for Redis's clock), ARGV[4]: the TTL in ms (reserve only).
//
// The reply: outcome (0 unchanged, 1 changed, 2 sold out), count, version, the session's expiry
// (-1: none), the earliest expiry left (-1: none), Redis's clock in ms, then for every expired
// reservation: session, version, count.
const PRELUDE = `
local stockKey, versionKey, cartsKey = KEYS[1], KEYS[2], KEYS[3]
redis.call('SET', stockKey, ARGV[1], 'NX')
local clock = redis.call('TIME')
local now = tonumber(ARGV[3]) or tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if redis.call('EXISTS', versionKey) == 0 then
  redis.call('SET', versionKey, clock[1] .. string.format('%06d', tonumber(clock[2])))
end
local stock = tonumber(redis.call('GET', stockKey))
local held = redis.call('ZCARD', cartsKey)
local expired = {}
for _, who in ipairs(redis.call('ZRANGE', cartsKey, '-inf', now, 'BYSCORE')) do
  redis.call('ZREM', cartsKey, who)
  held = held - 1
  expired[#expired + 1] = who
  expired[#expired + 1] = redis.call('INCR', versionKey)
  expired[#expired + 1] = math.max(stock - held, 0)
end
local function reply(outcome, session)
  local score = false
  if session ~= '' then score = redis.call('ZSCORE', cartsKey, session) end
  local first = redis.call('ZRANGE', cartsKey, 0, 0, 'WITHSCORES')
  local result = {
    outcome,
    math.max(stock - redis.call('ZCARD', cartsKey), 0),
    tonumber(redis.call('GET', versionKey)),
    score and tonumber(score) or -1,
    first[2] and tonumber(first[2]) or -1,
    now,
  }
  for _, value in ipairs(expired) do result[#result + 1] = value end
  return result
end
`;

const SCRIPTS = {
  cartStatus: `${PRELUDE}
return reply(0, ARGV[2])`,
  cartReserve: `${PRELUDE}
local session, ttl = ARGV[2], tonumber(ARGV[4])
if redis.call('ZSCORE', cartsKey, session) then return reply(0, session) end
if redis.call('ZCARD', cartsKey) >= stock then return reply(2, session) end
redis.call('ZADD', cartsKey, now + ttl, session)
redis.call('INCR', versionKey)
return reply(1, session)`,
  cartRelease: `${PRELUDE}
if redis.call('ZREM', cartsKey, ARGV[2]) == 1 then
  redis.call('INCR', versionKey)
  return reply(1, ARGV[2])
end
return reply(0, ARGV[2])`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCommands = {
  [name in ScriptName]: (...args: (string | number)[]) => Promise<unknown>;
};

interface ScriptReply {
  readonly outcome: 0 | 1 | 2;
  readonly status: CartStatus;
  /** The earliest expiry left (ms, by the script's clock), or null. */
  readonly nextExpiry: number | null;
  /** The script's clock when it ran (ms). */
  readonly now: number;
  readonly expired: InventoryChange[];
}

// Replies of Redis that mean "not now" rather than "this script is wrong".
const TRANSIENT_REPLY = /^(LOADING|BUSY|OOM|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * An `Inventory` in Redis, shared by every instance that uses the same Redis (or Redis Cluster)
 * and prefix.
 *
 * Atomic because each operation is one Lua script (Redis runs one script at a time, and nothing
 * else in between): two instances can never oversell. Reservations are a sorted set by expiry;
 * every script first releases the ones that ran out, and each instance runs the same release on
 * a timer, so an expiry is noticed (by exactly one instance, which reports it through `onChange`)
 * within `sweepIntervalMs` even when nobody does anything.
 *
 * When Redis cannot be reached, every method rejects with `InventoryUnavailableError` at once
 * (commands are not queued while disconnected) and the client reconnects by itself. An emptied
 * Redis (restarted without persistence) means a full shelf and empty carts: the first call after
 * it puts the initial stock back (SET NX), and versions stay larger than before.
 */
export class RedisInventory implements Inventory {
  /** Resolves once connected to Redis the first time. */
  readonly ready: Promise<void>;
  readonly #redis: Redis | Cluster;
  readonly #scripts: ScriptCommands;
  readonly #keys: readonly [string, string, string];
  readonly #stock: number;
  readonly #ttl: number;
  readonly #sweepInterval: number;
  readonly #connectTimeout: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** The `now` of the scripts: '' for Redis's clock. */
  readonly #scriptNow: () => string;
  readonly #listeners = new Set<(change: InventoryChange) => void>();
  #everReady = false;
  #down = false;
  #closed = false;
  #sweepTimer: unknown;
  #sweepAt = Number.POSITIVE_INFINITY;

  /** Throws `RangeError` for a stock, TTL or interval that is not a suitable integer. */
  constructor(options: RedisInventoryOptions) {
    if (!Number.isSafeInteger(options.stock) || options.stock < 0) {
      throw new RangeError(`stock must be an integer >= 0, not ${options.stock}`);
    }
    if (!Number.isSafeInteger(options.reservationTtlMs) || options.reservationTtlMs < 1) {
      throw new RangeError(
        `reservationTtlMs must be an integer >= 1, not ${options.reservationTtlMs}`,
      );
    }
    const sweepInterval = options.sweepIntervalMs ?? 1000;
    if (!Number.isSafeInteger(sweepInterval) || sweepInterval < 1) {
      throw new RangeError(`sweepIntervalMs must be an integer >= 1, not ${sweepInterval}`);
    }
    this.#stock = options.stock;
    this.#ttl = options.reservationTtlMs;
    this.#sweepInterval = sweepInterval;
    this.#connectTimeout = options.connectTimeoutMs ?? 5000;
    this.#logger = options.logger ?? console;
    const { clock } = options;
    this.#clock = clock ?? systemClock;
    this.#scriptNow = clock === undefined ? () => '' : () => String(Math.floor(clock.now()));
    const prefix = options.prefix ?? 'burts:';
    const tag = `{${prefix}shop}:`;
    this.#keys = [`${tag}stock`, `${tag}version`, `${tag}carts`];
    this.#redis = connectRedis(
      options.url,
      {
        // Fail fast instead of queueing while disconnected: the route answers 503 at once.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 2000,
        retryStrategy: (times) => Math.min(times * 100, 1000),
      },
      // On a cluster: the same, for the whole cluster. A command whose primary died is retried
      // by ioredis while a replica takes over (16 tries, 100 ms apart), then fails: 503.
      {
        enableOfflineQueue: false,
        clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
      },
    );
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      this.#redis.defineCommand(name, { numberOfKeys: 3, lua });
    }
    this.#scripts = this.#redis as unknown as ScriptCommands;
    this.ready = new Promise((resolve) => this.#redis.once('ready', () => resolve()));
    this.#redis.on('ready', () => {
      if (this.#down) this.#logger.info(`cart inventory: Redis is back (${options.url})`);
      this.#everReady = true;
      this.#down = false;
    });
    this.#redis.on('error', (error: unknown) => this.#lost(error));
    // A cluster's node that failed (a primary died: a replica takes over), once per node.
    const failedNodes = new Set<string>();
    this.#redis.on('node error', (error: unknown, node: string) => {
      if (failedNodes.has(node) || this.#closed) return;
      failedNodes.add(node);
      this.#logger.warn(`cart inventory: Redis node ${node} failed (${describe(error)})`);
    });
    this.#redis.on('close', () => {
      if (this.#everReady && !this.#closed) this.#lost(new Error('connection closed'));
    });
    this.#scheduleSweep(this.#clock.now() + this.#sweepInterval);
  }

  async reserve(session: string): Promise<ReserveResult> {
    const reply = await this.#run('cartReserve', session, this.#ttl);
    if (reply.outcome === 2) return { ok: false, reason: 'sold-out', ...reply.status };
    if (reply.outcome === 1) this.#emit({ ...reply.status, session, cause: 'reserved' });
    return { ok: true, ...reply.status };
  }

  async release(session: string): Promise<CartStatus> {
    const reply = await this.#run('cartRelease', session);
    if (reply.outcome === 1) this.#emit({ ...reply.status, session, cause: 'released' });
    return reply.status;
  }

  async status(session: string | null): Promise<CartStatus> {
    return (await this.#run('cartStatus', session ?? '')).status;
  }

  onChange(listener: (change: InventoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops the sweep timer, drops the listeners and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#sweepTimer);
    this.#listeners.clear();
    // QUIT when connected (pending replies arrive first); otherwise just drop the connection.
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => {});
    this.#redis.disconnect();
  }

  /** Runs a script: the expired reservations it released are reported, then its reply returned. */
  async #run(name: ScriptName, session: string, ttl?: number): Promise<ScriptReply> {
    if (this.#closed) throw new InventoryUnavailableError('the inventory is closed');
    await this.#connected();
    const args: (string | number)[] = [...this.#keys, this.#stock, session, this.#scriptNow()];
    if (ttl !== undefined) args.push(ttl);
    let raw: unknown;
    try {
      raw = await this.#scripts[name](...args);
    } catch (error) {
      if (isTransient(error)) {
        throw new InventoryUnavailableError(`Redis failed: ${describe(error)}`, { cause: error });
      }
      throw error;
    }
    const reply = parseReply(raw);
    for (const change of reply.expired) this.#emit(change);
    if (reply.nextExpiry !== null) {
      this.#scheduleSweep(this.#clock.now() + Math.max(reply.nextExpiry - reply.now, 0));
    }
    return reply;
  }

  /**
   * Resolves when commands can be sent. While the very first connection is under way it waits
   * for it (up to `connectTimeoutMs`: the app may serve before Redis answered); once a connection
   * failed or was lost it rejects at once, so a request never waits for Redis to come back.
   */
  async #connected(): Promise<void> {
    if (this.#redis.status === 'ready') return;
    if (this.#everReady || this.#down) {
      throw new InventoryUnavailableError('Redis is unreachable, reconnecting');
    }
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: InventoryUnavailableError): void => {
        this.#clock.clearTimeout(timer);
        this.#redis.off('ready', onReady);
        this.#redis.off('error', onError);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onReady = (): void => settle();
      const onError = (): void => settle(new InventoryUnavailableError('Redis is unreachable'));
      const timer = this.#clock.setTimeout(
        () => settle(new InventoryUnavailableError('Redis did not answer in time')),
        this.#connectTimeout,
      );
      this.#redis.on('ready', onReady);
      this.#redis.on('error', onError);
    });
  }

  /** Runs the expiry release now, and again at the next due time or `sweepIntervalMs`. */
  async #sweep(): Promise<void> {
    this.#sweepTimer = undefined;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    if (this.#closed) return;
    this.#scheduleSweep(this.#clock.now() + this.#sweepInterval);
    if (this.#redis.status !== 'ready') return; // logged when the connection was lost
    try {
      await this.#run('cartStatus', '');
    } catch (error) {
      if (!(error instanceof InventoryUnavailableError)) {
        this.#logger.error('cart inventory: the expiry sweep failed', error);
      }
    }
  }

  #scheduleSweep(at: number): void {
    if (this.#closed || at >= this.#sweepAt) return;
    this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepAt = at;
    // A few ms late rather than early: Redis's clock decides, and it may run slightly behind.
    const delay = Math.max(at - this.#clock.now(), 0) + 5;
    this.#sweepTimer = this.#clock.setTimeout(() => void this.#sweep(), delay);
    unref(this.#sweepTimer);
  }

  #lost(error: unknown): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#logger.warn(
      `cart inventory: Redis unreachable (${describe(error)}); answering 503 until it is back`,
    );
  }

  #emit(change: InventoryChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        // The change has happened; a broken listener must not hide it from the others.
        this.#logger.error('Inventory change listener failed', error);
      }
    }
  }
}

function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // ioredis's ReplyError is an answer from Redis; anything else is the connection failing
  // (closed, not writeable, timed out, retries exhausted).
  if (error.name !== 'ReplyError') return true;
  return TRANSIENT_REPLY.test(error.message);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseReply(raw: unknown): ScriptReply {
  if (!Array.isArray(raw) || raw.length < 6 || (raw.length - 6) % 3 !== 0) {
    throw new Error(`unexpected reply from the inventory script: ${JSON.stringify(raw)}`);
  }
  const [outcome, count, version, expiresAt, nextExpiry, now] = raw.slice(0, 6).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const expired: InventoryChange[] = [];
  for (let i = 6; i < raw.length; i += 3) {
    expired.push({
      session: String(raw[i]),
      cause: 'expired',
      inventoryCount: Number(raw[i + 2]),
      version: Number(raw[i + 1]),
      inCart: false,
      expiresAt: null,
    });
  }
  return {
    outcome: outcome as 0 | 1 | 2,
    status: {
      inventoryCount: count,
      version,
      inCart: expiresAt !== -1,
      expiresAt: expiresAt === -1 ? null : expiresAt,
    },
    nextExpiry: nextExpiry === -1 ? null : nextExpiry,
    now,
    expired,
  };
}
