import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '@gale/server';
import {
  type Broker,
  type HistoryOptions,
  type HistoryPolicy,
  newEpoch,
  type Position,
  type PublishOptions,
  type SubscribeOptions,
  type SubscriptionStart,
  TopicDelivery,
  type TopicMessage,
  type TopicSubscriber,
  toPayload,
} from '@gale/server/broker';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { connectRedis, parseRedisUrl } from './connect.js';
import { BrokerUnavailableError } from './errors.js';
import { PUBLISH_LUA, READ_LUA } from './scripts.js';
import { keySlot } from './slot.js';

/** Options of `RedisBroker`. */
export interface RedisBrokerOptions {
  /**
   * Where Redis is: one server, `redis://127.0.0.1:6379` (ioredis URL syntax, `rediss://` for
   * TLS), or a Redis Cluster, `redis+cluster://host:port,host:port,…` (some of its nodes; see
   * `parseRedisUrl`).
   */
  readonly url: string;
  /**
   * Starts every key and channel name of the broker. Default `gale:`. Must not contain `{` or
   * `}` (topic keys use a hash tag).
   */
  readonly prefix?: string;
  /** Where connection losses and dropped messages are reported. Default `console`. */
  readonly logger?: Logger;
  /** Extra ioredis options for every connection (timeouts, TLS, …; each node's on a cluster). */
  readonly redis?: RedisOptions;
  /**
   * What each topic keeps in Redis for subscribers that resume (one Redis stream per topic).
   * Default: the last 1000 messages, at most 5 minutes old and 1 MiB of payload. `false` keeps
   * none (positions are still given, so a resume learns exactly what it missed).
   */
  readonly history?: HistoryPolicy;
  /** The wall clock, in milliseconds, for the ages of kept messages. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Sharded pub/sub (SPUBLISH / SSUBSCRIBE, Redis 7): on a cluster, a topic's messages then go
   * only to the node that owns the topic, instead of to every node. Default: on when the server
   * (a node of the cluster) is Redis 7 or later, asked with INFO once connected. `false` uses
   * PUBLISH / SUBSCRIBE. Every instance of an app must use the same.
   */
  readonly shardedPubSub?: boolean;
}

/** What the broker has done since it started. */
export interface RedisBrokerStats {
  /** Messages Redis took (and gave a position). */
  published: number;
  /** Topic messages received from Redis, this instance's own included. */
  received: number;
  /** Messages that could not be published (Redis unreachable): delivered to no one. */
  dropped: number;
  /** Messages read back from a topic's stream: resumes, and catching up after a lost connection. */
  replayed: number;
}

/** The history a topic keeps, resolved from the policy. */
interface Limits {
  readonly keep: boolean;
  readonly maxCount: number;
  readonly maxBytes: number;
  /** -1: no age limit. */
  readonly maxAge: number;
  readonly latest: boolean;
  /** How long a topic's epoch and head outlive its last publish or subscribe; -1: forever. */
  readonly metaTtl: number;
}

/** A message of a topic, as received live or read back from its stream. */
interface TopicEvent {
  readonly position: Position;
  readonly delivery: TopicDelivery;
  /** The subscriber the publisher excluded, if it is one of this instance's. */
  readonly exclude: TopicSubscriber | undefined;
}

/** A publish of this instance that excluded a subscriber, until its message comes back. */
interface Exclusion {
  readonly token: number;
  readonly subscriber: TopicSubscriber;
  /** Known once Redis answered the publish. */
  position: Position | undefined;
}

/** What the read script answered. */
interface ReadReply {
  readonly head: Position;
  readonly entries: readonly TopicEvent[];
  readonly latest: boolean;
}

/**
 * Subscribers starting on a topic together: one read of Redis (with its marker) for them. A
 * `subscribe` call starts one; a lost subscriber connection (or a topic moving to another node of
 * a cluster) starts one per position its live subscribers were at (`catchUp`).
 */
interface Sync {
  readonly state: TopicState;
  readonly after: Position | undefined;
  readonly subscribers: Set<TopicSubscriber>;
  readonly catchUp: boolean;
  readonly resolve: ((start: SubscriptionStart) => void) | undefined;
  readonly reject: ((error: unknown) => void) | undefined;
  /** Bumped by every new try; answers to older tries are ignored. */
  attempt: number;
  /** The shard connection's session of the current try (-1: none yet). */
  session: number;
  marker: number;
  markerSeen: boolean;
  reply: ReadReply | undefined;
  /** The topic's messages after the marker, until the reply is in. */
  queue: TopicEvent[];
}

/** A topic with subscribers on this instance. */
interface TopicState {
  readonly topic: string;
  /** The topic's channel, also the start of its keys' names. */
  readonly channel: string;
  /** Its cluster slot (-1 on one Redis). */
  readonly slot: number;
  /** The subscriber connection its channel is subscribed on: the node that owns the slot. */
  shard: Shard | undefined;
  /** Live subscribers, each at the position of the last message it was given. */
  readonly live: Map<TopicSubscriber, Position>;
  readonly syncs: Set<Sync>;
  readonly exclusions: Exclusion[];
  /** The (S)SUBSCRIBE of the channel in this shard session. */
  subscribed: Promise<void> | undefined;
}

/**
 * A subscriber connection: to the one Redis, or to one primary of a cluster (sharded pub/sub
 * messages only reach the subscribers of the node that owns the channel's slot).
 */
interface Shard {
  /** `host:port` of the cluster primary; `''` on one Redis. */
  readonly key: string;
  readonly connection: Redis;
  /** Bumped each time the connection is ready; 0 until the first time. */
  session: number;
  /** The topics subscribed (or to subscribe) here. */
  readonly topics: Set<TopicState>;
}

interface Scripts {
  galePublish(...args: (string | number | Buffer)[]): Promise<[string, number]>;
  galeReadBuffer(...args: (string | number | Buffer)[]): Promise<[Buffer, number, Buffer[][]]>;
}

type Commands = (Redis | Cluster) & Scripts;

// Every message on a topic channel is [kind][origin: 8 bytes][exclude token: 4 bytes][epoch
// length][epoch][offset length][offset, decimal][payload]; kind 0 is text, 1 binary. A marker,
// on the topic channel too, is [2][origin][marker id: 4 bytes]: each instance ignores the others'.
const HEADER = 13;
const TEXT = 0;
const BINARY = 1;
const MARKER = 2;
const TOKENS = 0xffff_ffff;
const DAY = 86_400_000;
const NOOP = (): void => {};

const DEFAULT_HISTORY: Required<HistoryOptions> = {
  maxCount: 1000,
  maxAge: 300_000,
  maxBytes: 1024 * 1024,
  latest: false,
};

/**
 * A @gale/server `Broker` on Redis — one server or a Redis Cluster — for several instances of
 * one app, with resumable topics. Redis gives every message its position (one Lua script: the
 * offset, the entry in the topic's stream, the publication on the topic's channel), and every
 * instance — the publishing one included — delivers what its channel subscription receives, so
 * each subscriber sees a topic in offset order.
 *
 * While Redis cannot be reached, `publish()` rejects with `BrokerUnavailableError` and nothing
 * is delivered anywhere (positions come from Redis; a message only some subscribers got could
 * never be resumed consistently). It is logged and counted in `stats.dropped`; the promise is
 * handled, so a caller that ignores it never crashes. A subscription waits for Redis. When a
 * subscriber connection comes back (or, on a cluster, a topic's slot moved to another node), each
 * local subscriber gets what was published meanwhile from the topic's stream, or a gap for what
 * is no longer kept; then `onReconnect` listeners run.
 */
export class RedisBroker implements Broker {
  /** Counters for monitoring and tests. */
  readonly stats: RedisBrokerStats = { published: 0, received: 0, dropped: 0, replayed: 0 };
  /** Resolves once the broker is connected the first time (to every primary of a cluster). */
  readonly ready: Promise<void>;

  readonly #prefix: string;
  readonly #origin = randomBytes(8);
  readonly #logger: Logger;
  readonly #history: HistoryPolicy;
  readonly #now: () => number;
  /** Runs the scripts: the one Redis, or the cluster (which routes each to the topic's node). */
  readonly #commands: Commands;
  readonly #cluster: Cluster | undefined;
  /** The subscriber connection on one Redis. */
  readonly #single: Shard | undefined;
  /** The subscriber connections of a cluster, by node. */
  readonly #shards = new Map<string, Shard>();
  readonly #shardOptions: RedisOptions;
  readonly #topics = new Map<string, TopicState>();
  readonly #channels = new Map<string, TopicState>();
  readonly #markers = new Map<number, Sync>();
  // Epoch candidates for topics that have none yet: one random prefix per broker, then a counter
  // (unique without asking the system's random source on every publish and read).
  readonly #epochPrefix = newEpoch();
  #epochCount = 0;
  /** Syncs whose read failed while the connection for commands was down. */
  readonly #waiting = new Set<Sync>();
  readonly #reconnectListeners = new Set<() => void>();
  /** SPUBLISH / SSUBSCRIBE, or PUBLISH / SUBSCRIBE; undefined until the server was asked. */
  #sharded: boolean | undefined;
  /** The question to the server, while it is under way. */
  #detecting: Promise<void> | undefined;
  #commandsReadyOnce = false;
  /** While a cluster's subscriber connection is lost: asks the cluster for its slots often. */
  #refreshTimer: NodeJS.Timeout | undefined;
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #nextMarker = 0;
  #nextToken = 0;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    this.#prefix = options.prefix ?? 'gale:';
    if (/[{}]/.test(this.#prefix)) {
      throw new TypeError(`RedisBroker prefix must not contain { or }: ${this.#prefix}`);
    }
    const target = parseRedisUrl(options.url);
    this.#logger = options.logger ?? console;
    this.#history = options.history ?? {};
    if (typeof this.#history === 'object') limitsOf(this.#history); // fail fast on a bad policy
    this.#now = options.now ?? Date.now;
    this.#sharded = options.shardedPubSub;
    const common: RedisOptions = {
      ...options.redis,
      // Reconnect forever, at most every 2 s (ioredis's default backoff).
      retryStrategy: (times) => Math.min(times * 100, 2000),
      // A command in flight when the connection drops fails at once (Redis may or may not have
      // run it), rather than being sent again, perhaps twice, whenever Redis is back: the
      // broker tries reads again itself, and resubscribes itself.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    };
    if (target.kind === 'single') {
      // Fail fast while disconnected: a publish is reported at once, never queued for later.
      this.#commands = new Redis(options.url, { ...common, enableOfflineQueue: false }) as Commands;
      this.#cluster = undefined;
      this.#shardOptions = common;
      // The broker itself subscribes again after a loss (#onShardReady).
      this.#single = this.#newShard(
        '',
        new Redis(options.url, { ...common, autoResubscribe: false }),
      );
    } else {
      const cluster = connectRedis(options.url, common, {
        // While the cluster is down, fail fast, as on one Redis.
        enableOfflineQueue: false,
        // A command in flight on a node that goes away is not sent again to another (it may have
        // run): it fails, so a message is never published twice.
        retryDelayOnFailover: 0,
        clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
        // Ask for the slots every 2 s, so that a topic whose slot moved without a lost connection
        // (a planned failover, a resharding) follows it even while nothing is published to it.
        slotsRefreshInterval: 2000,
      }) as Cluster;
      this.#cluster = cluster;
      this.#commands = cluster as Commands;
      this.#single = undefined;
      this.#shardOptions = { ...cluster.options.redisOptions, ...common };
      // Each time the cluster learns its slots: every topic subscribed on the node that owns it.
      cluster.on('refresh', () => this.#placeAll());
    }
    this.#commands.defineCommand('galePublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
    this.#commands.defineCommand('galeRead', { numberOfKeys: 2, lua: READ_LUA });
    let lost = false;
    this.#commands.on('error', (error: Error) => {
      if (!lost && !this.#closed) this.#logger.warn(`redis: ${error.message}`);
      lost = true;
    });
    this.#commands.on('ready', () => {
      if (lost) this.#logger.info('redis: connected again');
      lost = false;
      this.#commandsReadyOnce = true;
      this.#detect().catch(NOOP);
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const sync of waiting) void this.#attempt(sync);
    });
    this.ready = this.#firstReady();
    this.ready.catch(NOOP);
  }

  /**
   * Calls `listener` each time a subscriber connection to Redis comes back after a loss (not on
   * the first connection), once its channels are subscribed again; on a cluster, one connection
   * per primary. What was published meanwhile is replayed from the topics' streams (or reported
   * as a gap) by the broker itself. Returns a function that removes the listener.
   */
  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  /**
   * Subscribes `subscriber` to `topic`, from `after` if given (the messages kept since are
   * replayed first). Calls `subscriber.started` once Redis said where the topic is, then
   * delivers the replay, then live messages, and resolves with the start. Waits for the first
   * connection; rejects with `BrokerUnavailableError` while Redis (the topic's node) is
   * unreachable, or if the broker closes first.
   */
  subscribe(
    topic: string,
    subscriber: TopicSubscriber,
    options?: SubscribeOptions,
  ): Promise<SubscriptionStart> {
    if (this.#closed) return Promise.reject(closedError(topic));
    const after = options?.after;
    if (after !== undefined && !(Number.isSafeInteger(after.offset) && after.offset >= 0)) {
      return Promise.reject(new RangeError(`not a position offset: ${String(after.offset)}`));
    }
    let state = this.#topics.get(topic);
    if (state === undefined) {
      const channel = this.#base(topic);
      state = {
        topic,
        channel,
        slot: this.#cluster === undefined ? -1 : keySlot(channel),
        shard: undefined,
        live: new Map(),
        syncs: new Set(),
        exclusions: [],
        subscribed: undefined,
      };
      this.#topics.set(topic, state);
      this.#channels.set(channel, state);
      if (this.#single !== undefined) {
        state.shard = this.#single;
        this.#single.topics.add(state);
      } else {
        this.#place(state);
      }
    } else {
      this.#detach(state, subscriber); // subscribing again starts over
    }
    const topicState = state;
    return new Promise<SubscriptionStart>((resolve, reject) => {
      const sync = newSync(topicState, after, [subscriber], false, resolve, reject);
      topicState.syncs.add(sync);
      void this.#attempt(sync);
    });
  }

  /**
   * Unsubscribes `subscriber` from `topic` (also while its subscription is still starting: it
   * then gets nothing). Resolves once the channel is left, when it was the last local subscriber.
   */
  unsubscribe(topic: string, subscriber: TopicSubscriber): Promise<void> {
    const state = this.#topics.get(topic);
    if (state === undefined) return Promise.resolve();
    this.#detach(state, subscriber);
    return this.#release(state);
  }

  /**
   * Publishes `message` to `topic` through Redis, which gives it its position; every instance
   * (this one too) delivers it to its subscribers when Redis passes it on, but `exclude`. Rejects
   * with `BrokerUnavailableError` if Redis could not take it (or a cluster's node in failover
   * could not answer): then no one got it.
   */
  publish(topic: string, message: TopicMessage, options?: PublishOptions): Promise<Position> {
    if (this.#closed) {
      this.stats.dropped++;
      const error = closedError(topic);
      return Promise.reject(error);
    }
    const payload = toPayload(message);
    const binary = typeof payload !== 'string';
    let limits: Limits;
    try {
      limits = this.#limits(topic);
    } catch (error) {
      return Promise.reject(error);
    }
    const state = this.#topics.get(topic);
    const exclude = options?.exclude;
    let exclusion: Exclusion | undefined;
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = binary ? BINARY : TEXT;
    this.#origin.copy(header, 1);
    header.writeUInt32BE(0, 9);
    if (exclude !== undefined && state !== undefined) {
      // Only a subscriber of this instance can be excluded, and only if the message comes back.
      this.#nextToken = (this.#nextToken % TOKENS) + 1;
      exclusion = { token: this.#nextToken, subscriber: exclude, position: undefined };
      state.exclusions.push(exclusion);
      header.writeUInt32BE(exclusion.token, 9);
    }
    const bytes = binary ? asBuffer(payload) : payload;
    const now = this.#now();
    const send = (): Promise<[string, number]> => {
      const base = this.#base(topic);
      return this.#commands.galePublish(
        `${base}:m`,
        `${base}:s`,
        this.#epochCandidate(),
        base,
        header,
        bytes,
        limits.keep ? '1' : '0',
        limits.maxCount,
        limits.maxBytes,
        limits.maxAge,
        now,
        limits.metaTtl,
        binary ? '1' : '0',
        exclusion === undefined ? '' : header.subarray(1, HEADER),
        this.#sharded ? 'SPUBLISH' : 'PUBLISH',
      );
    };
    // Connected, but the server's version is still being asked (a moment, the first time).
    const sent =
      this.#sharded === undefined && this.#detecting !== undefined
        ? this.#detecting.then(send)
        : this.#sharded === undefined
          ? Promise.reject(new Error('not connected to Redis'))
          : send();
    const done = sent.then(
      ([epoch, offset]): Position => {
        this.stats.published++;
        const position = { epoch, offset };
        if (exclusion !== undefined) exclusion.position = position;
        return position;
      },
      (error: unknown) => {
        this.stats.dropped++;
        if (exclusion !== undefined && state !== undefined) {
          const index = state.exclusions.indexOf(exclusion);
          if (index !== -1) state.exclusions.splice(index, 1);
        }
        const dropped = new BrokerUnavailableError(topic, { cause: error });
        if (!this.#closed) this.#logger.error(dropped.message);
        throw dropped;
      },
    );
    done.catch(NOOP);
    return done;
  }

  /**
   * Closes every Redis connection. Subscriptions still starting reject with
   * `BrokerUnavailableError`.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const state of this.#topics.values()) {
      for (const sync of state.syncs) sync.reject?.(closedError(state.topic));
    }
    this.#topics.clear();
    this.#channels.clear();
    this.#markers.clear();
    this.#waiting.clear();
    if (this.#refreshTimer !== undefined) clearInterval(this.#refreshTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    const shards = this.#single !== undefined ? [this.#single] : [...this.#shards.values()];
    await Promise.all([quit(this.#commands), ...shards.map((shard) => quit(shard.connection))]);
  }

  /** Which pub/sub the broker uses: `sharded` (SPUBLISH) or `classic`; undefined until known. */
  get pubSub(): 'sharded' | 'classic' | undefined {
    return this.#sharded === undefined ? undefined : this.#sharded ? 'sharded' : 'classic';
  }

  async #firstReady(): Promise<void> {
    await readyOf(this.#commands);
    if (this.#sharded === undefined) {
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.#sharded !== undefined) resolve();
          else setTimeout(check, 10);
        };
        check();
      });
    }
    const shards = this.#single !== undefined ? [this.#single] : [...this.#shards.values()];
    await Promise.all(shards.map((shard) => readyOf(shard.connection)));
  }

  /** Asks the server for its version, once: Redis 7 has sharded pub/sub. */
  #detect(): Promise<void> {
    if (this.#sharded !== undefined || this.#closed) return Promise.resolve();
    this.#detecting ??= this.#commands.info('server').then(
      (info) => {
        const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
        this.#sharded = major >= 7;
        this.#detecting = undefined;
        // Subscriptions waited for this.
        for (const state of this.#topics.values()) {
          for (const sync of state.syncs) if (sync.session === -1) void this.#attempt(sync);
        }
      },
      (error: unknown) => {
        // Asked again in a second (and when the connection is ready again).
        this.#detecting = undefined;
        if (!this.#closed) {
          this.#logger.warn(`redis: could not ask for INFO: ${String(error)}`);
          const timer = setTimeout(() => {
            this.#retryTimers.delete(timer);
            if (this.#commands.status === 'ready') this.#detect().catch(NOOP);
          }, 1000);
          timer.unref();
          this.#retryTimers.add(timer);
        }
        throw error;
      },
    );
    return this.#detecting;
  }

  /**
   * The topic's channel, also the start of its keys: `<prefix>{<topic>}`, whose hash tag puts
   * them on one slot of a cluster. A topic that would break the tag (it is empty, contains `}`)
   * or starts with `#` is hashed into the tag instead: `<prefix>{#<16 hex digits of its SHA-1>}
   * <topic>`, still one name per topic.
   */
  #base(topic: string): string {
    if (topic !== '' && !topic.includes('}') && !topic.startsWith('#')) {
      return `${this.#prefix}{${topic}}`;
    }
    const hash = createHash('sha1').update(topic).digest('hex').slice(0, 16);
    return `${this.#prefix}{#${hash}}${topic}`;
  }

  #limits(topic: string): Limits {
    const policy = typeof this.#history === 'function' ? this.#history(topic) : this.#history;
    return limitsOf(policy);
  }

  #newShard(key: string, connection: Redis): Shard {
    const shard: Shard = { key, connection, session: 0, topics: new Set() };
    const name = key === '' ? 'redis subscriber' : `redis subscriber ${key}`;
    const onMessage = (channel: Buffer, message: Buffer): void =>
      this.#onMessage(shard, channel, message);
    connection.on('messageBuffer', onMessage);
    connection.on('smessageBuffer', onMessage);
    let lost = false;
    connection.on('error', (error: Error) => {
      if (!lost && !this.#closed) this.#logger.warn(`${name}: ${error.message}`);
      lost = true;
    });
    connection.on('ready', () => {
      if (lost) this.#logger.info(`${name}: connected again`);
      lost = false;
      void this.#onShardReady(shard);
    });
    // An SSUBSCRIBE to a node that no longer owns the slot: the cluster's slots changed.
    connection.on('moved', () => this.#refreshSoon());
    connection.on('close', () => {
      // Subscriptions starting on the lost connection fail, as a publish would.
      if (this.#closed || !this.#connectedOnce() || shard.session === 0) return;
      for (const state of [...shard.topics]) {
        for (const sync of [...state.syncs]) if (!sync.catchUp) this.#unreachable(sync);
      }
      this.#refreshSoon();
    });
    return shard;
  }

  /** The subscriber connection to a cluster node, opened the first time. */
  #shardOf(key: string): Shard {
    let shard = this.#shards.get(key);
    if (shard === undefined) {
      const at = key.lastIndexOf(':');
      const connection = new Redis({
        ...this.#shardOptions,
        host: key.slice(0, at),
        port: Number(key.slice(at + 1)),
        autoResubscribe: false,
      });
      shard = this.#newShard(key, connection);
      this.#shards.set(key, shard);
    }
    return shard;
  }

  /** Cluster: each topic on the node that owns its slot now; connections to every primary. */
  #placeAll(): void {
    const cluster = this.#cluster;
    if (cluster === undefined || this.#closed) return;
    const primaries = new Set<string>();
    for (const nodes of cluster.slots) if (nodes?.[0] !== undefined) primaries.add(nodes[0]);
    for (const key of primaries) this.#shardOf(key);
    for (const state of this.#topics.values()) this.#place(state);
    for (const shard of [...this.#shards.values()]) {
      if (!primaries.has(shard.key) && shard.topics.size === 0) {
        this.#shards.delete(shard.key);
        shard.connection.disconnect();
      }
    }
  }

  /**
   * Cluster: subscribes the topic on the node that owns its slot. When that changed (a failover,
   * a resharding), its subscribers catch up from the stream on the new node, as after a lost
   * connection: the old node's channel may have missed messages, or may carry no more.
   */
  #place(state: TopicState): void {
    const key = this.#cluster?.slots[state.slot]?.[0];
    if (key === undefined || state.shard?.key === key) return;
    const old = state.shard;
    if (old !== undefined) {
      old.topics.delete(state);
      if (old.connection.status === 'ready' && state.subscribed !== undefined) {
        this.#unsubscribeChannel(old, state.channel);
      }
    }
    const shard = this.#shardOf(key);
    state.shard = shard;
    shard.topics.add(state);
    this.#restart(state, old !== undefined);
  }

  /**
   * Starts the topic's syncs over (their reads and markers may be lost) and, with `catchUp`,
   * moves its live subscribers back to catching up from where each was (one read per distinct
   * position), since pub/sub keeps nothing for a connection that is not there.
   */
  #restart(state: TopicState, catchUp: boolean): void {
    state.subscribed = undefined;
    for (const sync of state.syncs) {
      this.#markers.delete(sync.marker);
      this.#waiting.delete(sync);
      sync.attempt++;
      sync.session = -1;
      sync.markerSeen = false;
      sync.reply = undefined;
      sync.queue = [];
    }
    if (catchUp && state.live.size > 0) {
      const groups = new Map<string, { after: Position; subscribers: TopicSubscriber[] }>();
      for (const [subscriber, at] of state.live) {
        const key = `${at.epoch}\n${at.offset}`;
        const group = groups.get(key);
        if (group === undefined) groups.set(key, { after: at, subscribers: [subscriber] });
        else group.subscribers.push(subscriber);
      }
      state.live.clear();
      for (const { after, subscribers } of groups.values()) {
        state.syncs.add(newSync(state, after, subscribers, true, undefined, undefined));
      }
    }
    for (const sync of [...state.syncs]) void this.#attempt(sync);
  }

  /** Cluster: while a subscriber connection is lost, asks for the slots every 250 ms. */
  #refreshSoon(): void {
    const cluster = this.#cluster;
    if (cluster === undefined || this.#closed || this.#refreshTimer !== undefined) return;
    const tick = (): void => {
      const lost = [...this.#shards.values()].some(
        (shard) => shard.topics.size > 0 && shard.connection.status !== 'ready',
      );
      if (this.#closed || !lost) {
        clearInterval(this.#refreshTimer);
        this.#refreshTimer = undefined;
        return;
      }
      cluster.refreshSlotsCache();
    };
    this.#refreshTimer = setInterval(tick, 250);
    this.#refreshTimer.unref();
    cluster.refreshSlotsCache();
  }

  /** Removes `subscriber` from the topic's live subscribers and from the syncs starting it. */
  #detach(state: TopicState, subscriber: TopicSubscriber): void {
    state.live.delete(subscriber);
    for (const sync of state.syncs) {
      sync.subscribers.delete(subscriber);
      // A catch-up with no one left is dropped; a subscribe runs on to settle its promise.
      if (sync.catchUp && sync.subscribers.size === 0) this.#drop(sync);
    }
  }

  #drop(sync: Sync): void {
    sync.state.syncs.delete(sync);
    this.#markers.delete(sync.marker);
    this.#waiting.delete(sync);
    sync.attempt++;
  }

  /** Forgets a topic with no subscriber left here, and leaves its channel. */
  #release(state: TopicState): Promise<void> {
    if (state.live.size > 0 || state.syncs.size > 0) return Promise.resolve();
    if (this.#topics.get(state.topic) !== state) return Promise.resolve();
    this.#topics.delete(state.topic);
    this.#channels.delete(state.channel);
    const shard = state.shard;
    if (shard === undefined) return Promise.resolve();
    shard.topics.delete(state);
    if (shard.connection.status !== 'ready') return Promise.resolve();
    return this.#unsubscribeChannel(shard, state.channel);
  }

  #unsubscribeChannel(shard: Shard, channel: string): Promise<void> {
    const connection = shard.connection;
    const done = (
      this.#sharded ? connection.sunsubscribe(channel) : connection.unsubscribe(channel)
    ).then(NOOP);
    done.catch(NOOP);
    return done;
  }

  /**
   * One try of a sync: the channel subscribed, then the read (which publishes the marker to the
   * channel). It finishes when both the reply and the marker are in. A lost subscriber connection
   * starts a new try (#onShardReady), so does a topic's moving to another node (#place), and the
   * connection for commands coming back after a failed read.
   */
  async #attempt(sync: Sync): Promise<void> {
    if (this.#closed || !sync.state.syncs.has(sync)) return;
    const attempt = ++sync.attempt;
    this.#markers.delete(sync.marker);
    this.#nextMarker = (this.#nextMarker % TOKENS) + 1;
    sync.marker = this.#nextMarker;
    this.#markers.set(sync.marker, sync);
    sync.markerSeen = false;
    sync.reply = undefined;
    sync.queue = [];
    const state = sync.state;
    const shard = state.shard;
    // Once connected, a subscribe fails fast while Redis (the topic's node) is unreachable, as a
    // publish does; before the first connection, and for catching up, it waits.
    const failFast = !sync.catchUp && this.#connectedOnce();
    if (
      failFast &&
      (this.#commands.status !== 'ready' ||
        shard === undefined ||
        (shard.session > 0 && shard.connection.status !== 'ready'))
    ) {
      this.#unreachable(sync);
      return;
    }
    if (shard === undefined || shard.connection.status !== 'ready' || this.#sharded === undefined) {
      sync.session = -1; // the next 'ready' (or the topic's placing) tries again
      return;
    }
    sync.session = shard.session;
    const stale = (): boolean => this.#closed || sync.attempt !== attempt;
    try {
      state.subscribed ??= this.#subscribeChannel(state, shard);
      await state.subscribed;
    } catch (error) {
      // The connection was lost: the next 'ready' tries again.
      if (failFast && !stale()) this.#unreachable(sync, error);
      return;
    }
    if (stale()) return;
    const marker = Buffer.allocUnsafe(HEADER);
    marker[0] = MARKER;
    this.#origin.copy(marker, 1);
    marker.writeUInt32BE(sync.marker, 9);
    let raw: [Buffer, number, Buffer[][]];
    let latest: boolean;
    try {
      const limits = this.#limits(state.topic);
      latest = limits.latest;
      const after = sync.after;
      raw = await this.#commands.galeReadBuffer(
        `${state.channel}:m`,
        `${state.channel}:s`,
        this.#epochCandidate(),
        after?.epoch ?? '',
        after?.offset ?? 0,
        limits.keep ? '1' : '0',
        limits.maxAge < 0 ? '' : this.#now() - limits.maxAge,
        limits.metaTtl,
        state.channel,
        marker,
        this.#sharded ? 'SPUBLISH' : 'PUBLISH',
      );
    } catch (error) {
      if (stale()) return;
      if (failFast && this.#unavailable(error)) {
        this.#unreachable(sync, error);
      } else if (this.#cluster !== undefined && this.#unavailable(error)) {
        this.#retryLater(sync, attempt); // the cluster stays "ready" through a failover
      } else if (this.#commands.status !== 'ready') {
        this.#waiting.add(sync); // tried again when the connection is back
      } else {
        this.#fail(sync, error);
      }
      return;
    }
    if (stale()) return;
    sync.reply = this.#parseReply(state.topic, raw, latest);
    if (sync.markerSeen) this.#finish(sync);
  }

  /** Whether a command failed for want of Redis (rather than, say, a script error). */
  #unavailable(error: unknown): boolean {
    if (this.#commands.status !== 'ready') return true;
    const message = error instanceof Error ? error.message : String(error);
    return !/^(ERR|WRONGTYPE|NOSCRIPT) /.test(message);
  }

  /** Tries a sync again in a while (a cluster's node in failover). */
  #retryLater(sync: Sync, attempt: number): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.#closed && sync.attempt === attempt) void this.#attempt(sync);
    }, 200);
    timer.unref();
    this.#retryTimers.add(timer);
  }

  #subscribeChannel(state: TopicState, shard: Shard): Promise<void> {
    const connection = shard.connection;
    const done = (
      this.#sharded ? connection.ssubscribe(state.channel) : connection.subscribe(state.channel)
    ).then(NOOP);
    done.catch(() => {
      if (state.subscribed === done) state.subscribed = undefined;
    });
    return done;
  }

  #parseReply(topic: string, raw: [Buffer, number, Buffer[][]], latest: boolean): ReadReply {
    const epoch = raw[0].toString('utf8');
    const state = this.#topics.get(topic);
    const entries = raw[2].map(([id, payload, kind, tag]): TopicEvent => {
      const position = { epoch, offset: Number.parseInt(id!.toString('latin1'), 10) };
      const message = kind!.toString('latin1') === '1' ? payload! : payload!.toString('utf8');
      let exclude: TopicSubscriber | undefined;
      if (state !== undefined && tag!.length === 12 && this.#origin.compare(tag!, 0, 8) === 0) {
        exclude = takeExclusion(state, tag!.readUInt32BE(8), position);
      }
      return {
        position,
        delivery: new TopicDelivery(topic, message, position, exclude),
        exclude,
      };
    });
    return { head: { epoch, offset: Number(raw[1]) }, entries, latest };
  }

  #connectedOnce(): boolean {
    return (
      this.#commandsReadyOnce &&
      this.#sharded !== undefined &&
      (this.#single === undefined || this.#single.session > 0)
    );
  }

  /** A subscribe could not start, Redis being unreachable: it rejects. */
  #unreachable(sync: Sync, cause: unknown = new Error('not connected to Redis')): void {
    if (!sync.state.syncs.has(sync)) return;
    this.#drop(sync);
    sync.reject?.(new BrokerUnavailableError(sync.state.topic, { cause }));
    void this.#release(sync.state);
  }

  /** The read could not be done with Redis reachable: give up on this sync. */
  #fail(sync: Sync, error: unknown): void {
    const state = sync.state;
    this.#drop(sync);
    this.#logger.error(
      `redis: could not read topic ${JSON.stringify(state.topic)}: ${String(error)}`,
    );
    if (sync.catchUp) {
      // Back to live where they were: the next message shows them a gap if they missed any.
      for (const subscriber of sync.subscribers) state.live.set(subscriber, sync.after!);
    } else {
      sync.reject?.(new BrokerUnavailableError(state.topic, { cause: error }));
      void this.#release(state);
    }
  }

  /** The reply and the marker are in: start each subscriber, replay, then go live. */
  #finish(sync: Sync): void {
    const state = sync.state;
    this.#drop(sync);
    const reply = sync.reply!;
    const { start, replay } = startOf(sync.after, reply);
    if (sync.subscribers.size > 0) this.stats.replayed += replay.length;
    for (const subscriber of sync.subscribers) {
      state.live.set(subscriber, start.position);
      if (!sync.catchUp || !samePosition(start.position, sync.after!)) {
        this.#call(() => subscriber.started?.(state.topic, start));
      }
      for (const event of replay) this.#advance(state, subscriber, event);
      for (const event of sync.queue) this.#advance(state, subscriber, event);
    }
    sync.resolve?.(start);
    void this.#release(state);
  }

  /**
   * Gives `event` to a live subscriber unless it already had it; a position that does not follow
   * the subscriber's (another epoch, or offsets missing) is reported as a gap first.
   */
  #advance(state: TopicState, subscriber: TopicSubscriber, event: TopicEvent): void {
    const at = state.live.get(subscriber);
    if (at === undefined) return; // unsubscribed meanwhile
    const position = event.position;
    let gap: SubscriptionStart | undefined;
    if (position.epoch === at.epoch) {
      if (position.offset <= at.offset) return;
      if (position.offset > at.offset + 1) {
        gap = {
          status: 'gap',
          from: at,
          position: { epoch: at.epoch, offset: position.offset - 1 },
        };
      }
    } else {
      gap = {
        status: 'gap',
        from: at,
        position: { epoch: position.epoch, offset: position.offset - 1 },
      };
    }
    state.live.set(subscriber, position);
    const topic = state.topic;
    if (gap !== undefined) {
      const started = gap;
      this.#call(() => subscriber.started?.(topic, started));
    }
    const delivery = event.delivery;
    // The hot path of fan-out: no closure per delivery.
    try {
      if (event.exclude === subscriber) subscriber.skipped?.(topic, position);
      else subscriber.deliver(delivery.payload, delivery);
    } catch (error) {
      this.#logger.error('RedisBroker: a topic subscriber threw', error);
    }
  }

  #epochCandidate(): string {
    return `${this.#epochPrefix}${(++this.#epochCount).toString(36)}`;
  }

  /** Runs a subscriber's callback; one that throws is logged, never breaks the delivery loop. */
  #call(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#logger.error('RedisBroker: a topic subscriber threw', error);
    }
  }

  #onMessage(shard: Shard, channel: Buffer, message: Buffer): void {
    if (this.#closed || message.length < HEADER) return;
    const state = this.#channels.get(channel.toString('utf8'));
    // (A message from a node the topic has left is not the topic's any more.)
    if (state === undefined || state.shard !== shard) return;
    const kind = message[0];
    if (kind === MARKER) {
      if (this.#origin.compare(message, 1, 9) !== 0) return; // another instance's
      const sync = this.#markers.get(message.readUInt32BE(9));
      if (sync === undefined || sync.state !== state || sync.session !== shard.session) return;
      sync.markerSeen = true;
      if (sync.reply !== undefined) this.#finish(sync);
      return;
    }
    // [kind][origin][token][epoch length][epoch][offset length][offset][payload]
    let at = HEADER;
    const epochLength = message[at++]!;
    const epoch = message.toString('latin1', at, at + epochLength);
    at += epochLength;
    const offsetLength = message[at++]!;
    const offset = Number.parseInt(message.toString('latin1', at, at + offsetLength), 10);
    at += offsetLength;
    if (!(at <= message.length) || !Number.isSafeInteger(offset)) return;
    this.stats.received++;
    const bytes = message.subarray(at);
    const position: Position = { epoch, offset };
    const token = message.readUInt32BE(9);
    const exclude =
      token !== 0 && this.#origin.compare(message, 1, 9) === 0
        ? takeExclusion(state, token, position)
        : undefined;
    const event: TopicEvent = {
      position,
      delivery: new TopicDelivery(
        state.topic,
        kind === TEXT ? bytes.toString('utf8') : bytes,
        position,
        exclude,
      ),
      exclude,
    };
    for (const sync of state.syncs) if (sync.markerSeen) sync.queue.push(event);
    for (const subscriber of state.live.keys()) this.#advance(state, subscriber, event);
  }

  /**
   * A subscriber connection is ready: every try in flight on it is void (its marker may be lost)
   * and, after a loss, each live subscriber of its topics catches up from the stream.
   */
  async #onShardReady(shard: Shard): Promise<void> {
    const isReconnect = shard.session > 0;
    const session = ++shard.session;
    const states = [...shard.topics];
    for (const state of states) this.#restart(state, isReconnect);
    if (!isReconnect) return;
    // Once the channels are subscribed again.
    await Promise.allSettled(states.map((state) => state.subscribed));
    if (this.#closed || session !== shard.session) return;
    for (const listener of this.#reconnectListeners) {
      try {
        listener();
      } catch (error) {
        this.#logger.error('RedisBroker onReconnect listener threw', error);
      }
    }
  }
}

function newSync(
  state: TopicState,
  after: Position | undefined,
  subscribers: readonly TopicSubscriber[],
  catchUp: boolean,
  resolve: ((start: SubscriptionStart) => void) | undefined,
  reject: ((error: unknown) => void) | undefined,
): Sync {
  return {
    state,
    after,
    subscribers: new Set(subscribers),
    catchUp,
    resolve,
    reject,
    attempt: 0,
    session: -1,
    marker: 0,
    markerSeen: false,
    reply: undefined,
    queue: [],
  };
}

/**
 * How a subscription from `after` starts, given what the read found, and what it replays
 * (docs/resume-protocol.md §4).
 */
function startOf(
  after: Position | undefined,
  reply: ReadReply,
): { start: SubscriptionStart; replay: readonly TopicEvent[] } {
  const { head, entries } = reply;
  if (after === undefined) return { start: { status: 'fresh', position: head }, replay: [] };
  const sameEpoch = after.epoch === head.epoch;
  if (sameEpoch && after.offset >= head.offset) {
    return {
      start:
        after.offset === head.offset
          ? { status: 'resumed', position: head }
          : { status: 'gap', from: after, position: head },
      replay: [],
    };
  }
  if (reply.latest) {
    // A value, not a log: the values before the latest were replaced, not lost.
    const last = entries.at(-1);
    if (last === undefined)
      return { start: { status: 'gap', from: after, position: head }, replay: [] };
    const position = { epoch: head.epoch, offset: last.position.offset - 1 };
    return {
      start: sameEpoch ? { status: 'resumed', position } : { status: 'gap', from: after, position },
      replay: [last],
    };
  }
  const first = entries[0];
  if (first === undefined)
    return { start: { status: 'gap', from: after, position: head }, replay: [] };
  if (sameEpoch && first.position.offset === after.offset + 1) {
    return { start: { status: 'resumed', position: after }, replay: entries };
  }
  return {
    start: {
      status: 'gap',
      from: after,
      position: { epoch: head.epoch, offset: first.position.offset - 1 },
    },
    replay: entries,
  };
}

/**
 * The subscriber excluded from this instance's publish `token`, now that its message is here;
 * exclusions of earlier messages that never came back are forgotten.
 */
function takeExclusion(
  state: TopicState,
  token: number,
  position: Position,
): TopicSubscriber | undefined {
  let found: TopicSubscriber | undefined;
  const list = state.exclusions;
  for (let i = list.length - 1; i >= 0; i--) {
    const exclusion = list[i]!;
    const seen = exclusion.position;
    if (exclusion.token === token) {
      found = exclusion.subscriber;
      list.splice(i, 1);
    } else if (
      seen !== undefined &&
      (seen.epoch !== position.epoch || seen.offset < position.offset)
    ) {
      list.splice(i, 1);
    }
  }
  return found;
}

function samePosition(a: Position, b: Position): boolean {
  return a.epoch === b.epoch && a.offset === b.offset;
}

function closedError(topic: string): BrokerUnavailableError {
  return new BrokerUnavailableError(topic, { cause: new Error('the broker is closed') });
}

function limitsOf(policy: HistoryOptions | false): Limits {
  if (policy === false) {
    return { keep: false, maxCount: 0, maxBytes: 0, maxAge: -1, latest: false, metaTtl: DAY };
  }
  const latest = policy.latest ?? DEFAULT_HISTORY.latest;
  const maxCount = latest ? 1 : limit(policy.maxCount ?? DEFAULT_HISTORY.maxCount, 'maxCount');
  const maxBytes = limit(policy.maxBytes ?? DEFAULT_HISTORY.maxBytes, 'maxBytes');
  const age = limit(policy.maxAge ?? DEFAULT_HISTORY.maxAge, 'maxAge');
  const maxAge = age === Number.MAX_SAFE_INTEGER ? -1 : age;
  const metaTtl =
    maxAge === -1 ? -1 : Math.max(DAY, Math.min(10 * maxAge, Number.MAX_SAFE_INTEGER));
  return { keep: true, maxCount, maxBytes, maxAge, latest, metaTtl };
}

/** A history limit as a whole number of Redis can take; Infinity means none. */
function limit(value: number, name: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new RangeError(`history ${name} must be a number ≥ 0, not ${String(value)}`);
  }
  return value === Number.POSITIVE_INFINITY
    ? Number.MAX_SAFE_INTEGER
    : Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readyOf(connection: Redis | Cluster): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => connection.once('ready', () => resolve()));
}

async function quit(connection: Redis | Cluster): Promise<void> {
  // QUIT would wait (in the offline queue) for a connection that is not there.
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
