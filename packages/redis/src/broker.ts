import { randomBytes } from 'node:crypto';
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
import { Redis, type RedisOptions } from 'ioredis';
import { BrokerUnavailableError } from './errors.js';
import { PUBLISH_LUA, READ_LUA } from './scripts.js';

/** Options of `RedisBroker`. */
export interface RedisBrokerOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` (ioredis URL syntax, `rediss://` for TLS). */
  readonly url: string;
  /**
   * Starts every key and channel name of the broker. Default `gale:`. Must not contain `{` or
   * `}` (topic keys use a hash tag).
   */
  readonly prefix?: string;
  /** Where connection losses and dropped messages are reported. Default `console`. */
  readonly logger?: Logger;
  /** Extra ioredis options for both connections (timeouts, TLS, …). */
  readonly redis?: RedisOptions;
  /**
   * What each topic keeps in Redis for subscribers that resume (one Redis stream per topic).
   * Default: the last 1000 messages, at most 5 minutes old and 1 MiB of payload. `false` keeps
   * none (positions are still given, so a resume learns exactly what it missed).
   */
  readonly history?: HistoryPolicy;
  /** The wall clock, in milliseconds, for the ages of kept messages. Default `Date.now`. */
  readonly now?: () => number;
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
 * `subscribe` call starts one; a lost subscriber connection starts one per position its live
 * subscribers were at (`catchUp`).
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
  /** The subscriber-connection session of the current try (-1: none yet). */
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
  readonly channel: string;
  /** Live subscribers, each at the position of the last message it was given. */
  readonly live: Map<TopicSubscriber, Position>;
  readonly syncs: Set<Sync>;
  readonly exclusions: Exclusion[];
  /** The SUBSCRIBE of the channel in this connection session. */
  subscribed: Promise<void> | undefined;
}

type Scripted = Redis & {
  galePublish(...args: (string | number | Buffer)[]): Promise<[string, number]>;
  galeReadBuffer(...args: (string | number | Buffer)[]): Promise<[Buffer, number, Buffer[][]]>;
};

// Every message on a topic channel is [kind][origin: 8 bytes][exclude token: 4 bytes][epoch
// length][epoch][offset length][offset, decimal][payload]; kind 0 is text, 1 binary. A marker,
// on the instance's own channel, is [2][origin][marker id: 4 bytes].
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
 * A @gale/server `Broker` on Redis, for several instances of one app, with resumable topics.
 * Redis gives every message its position (one Lua script: the offset, the entry in the topic's
 * stream, the PUBLISH), and every instance — the publishing one included — delivers what its
 * channel subscription receives, so each subscriber sees a topic in offset order.
 *
 * While Redis cannot be reached, `publish()` rejects with `BrokerUnavailableError` and nothing
 * is delivered anywhere (positions come from Redis; a message only some subscribers got could
 * never be resumed consistently). It is logged and counted in `stats.dropped`; the promise is
 * handled, so a caller that ignores it never crashes. A subscription waits for Redis. When the
 * subscriber connection comes back, each local subscriber gets what was published meanwhile
 * from the topic's stream, or a gap for what is no longer kept; then `onReconnect` listeners run.
 */
export class RedisBroker implements Broker {
  /** Counters for monitoring and tests. */
  readonly stats: RedisBrokerStats = { published: 0, received: 0, dropped: 0, replayed: 0 };
  /** Resolves once both Redis connections are ready the first time. */
  readonly ready: Promise<void>;

  readonly #prefix: string;
  readonly #origin = randomBytes(8);
  readonly #instanceChannel: string;
  readonly #logger: Logger;
  readonly #history: HistoryPolicy;
  readonly #now: () => number;
  readonly #publisher: Scripted;
  readonly #subscriber: Redis;
  readonly #topics = new Map<string, TopicState>();
  readonly #markers = new Map<number, Sync>();
  // Epoch candidates for topics that have none yet: one random prefix per broker, then a counter
  // (unique without asking the system's random source on every publish and read).
  readonly #epochPrefix = newEpoch();
  #epochCount = 0;
  /** Syncs whose read failed while the publisher connection was down. */
  readonly #waiting = new Set<Sync>();
  readonly #reconnectListeners = new Set<() => void>();
  #session = 0;
  #publisherReadyOnce = false;
  #nextMarker = 0;
  #nextToken = 0;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    this.#prefix = options.prefix ?? 'gale:';
    if (/[{}]/.test(this.#prefix)) {
      throw new TypeError(`RedisBroker prefix must not contain { or }: ${this.#prefix}`);
    }
    this.#instanceChannel = `${this.#prefix}instance:${this.#origin.toString('hex')}`;
    this.#logger = options.logger ?? console;
    this.#history = options.history ?? {};
    if (typeof this.#history === 'object') limitsOf(this.#history); // fail fast on a bad policy
    this.#now = options.now ?? Date.now;
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
    // Fail fast while disconnected: a publish is reported at once, never queued for later.
    this.#publisher = new Redis(options.url, { ...common, enableOfflineQueue: false }) as Scripted;
    this.#publisher.defineCommand('galePublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
    this.#publisher.defineCommand('galeRead', { numberOfKeys: 2, lua: READ_LUA });
    // The broker itself subscribes again after a loss (#onSubscriberReady).
    this.#subscriber = new Redis(options.url, { ...common, autoResubscribe: false });
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.#onMessage(channel, message),
    );
    for (const [name, connection] of [
      ['publisher', this.#publisher],
      ['subscriber', this.#subscriber],
    ] as const) {
      let lost = false;
      connection.on('error', (error: Error) => {
        if (!lost && !this.#closed) this.#logger.warn(`redis ${name}: ${error.message}`);
        lost = true;
      });
      connection.on('ready', () => {
        if (lost) this.#logger.info(`redis ${name}: connected again`);
        lost = false;
      });
    }
    this.#subscriber.on('ready', () => void this.#onSubscriberReady());
    this.#subscriber.on('close', () => {
      // Subscriptions starting on the lost connection fail, as a publish would.
      if (this.#closed || !this.#connectedOnce()) return;
      for (const state of [...this.#topics.values()]) {
        for (const sync of [...state.syncs]) if (!sync.catchUp) this.#unreachable(sync);
      }
    });
    this.#publisher.on('ready', () => {
      this.#publisherReadyOnce = true;
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const sync of waiting) void this.#attempt(sync);
    });
    this.ready = Promise.all([readyOf(this.#publisher), readyOf(this.#subscriber)]).then(NOOP);
    this.ready.catch(NOOP);
  }

  /**
   * Calls `listener` each time the subscriber connection to Redis comes back after a loss (not
   * on the first connection), once its channels are subscribed again. What was published
   * meanwhile is replayed from the topics' streams (or reported as a gap) by the broker itself.
   * Returns a function that removes the listener.
   */
  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  /**
   * Subscribes `subscriber` to `topic`, from `after` if given (the messages kept since are
   * replayed first). Calls `subscriber.started` once Redis said where the topic is, then
   * delivers the replay, then live messages, and resolves with the start. Waits while Redis is
   * unreachable; rejects with `BrokerUnavailableError` if the broker closes first.
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
      state = {
        topic,
        channel: this.#channel(topic),
        live: new Map(),
        syncs: new Set(),
        exclusions: [],
        subscribed: undefined,
      };
      this.#topics.set(topic, state);
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
   * with `BrokerUnavailableError` if Redis could not take it: then no one got it.
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
    const done = this.#publisher
      .galePublish(
        ...this.#keys(topic),
        this.#epochCandidate(),
        this.#channel(topic),
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
      )
      .then(
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
   * Closes both Redis connections. Subscriptions still starting reject with
   * `BrokerUnavailableError`.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const state of this.#topics.values()) {
      for (const sync of state.syncs) sync.reject?.(closedError(state.topic));
    }
    this.#topics.clear();
    this.#markers.clear();
    this.#waiting.clear();
    await Promise.all([quit(this.#publisher), quit(this.#subscriber)]);
  }

  #channel(topic: string): string {
    return `${this.#prefix}{${topic}}`;
  }

  #keys(topic: string): [string, string] {
    const base = `${this.#prefix}{${topic}}`;
    return [`${base}:m`, `${base}:s`];
  }

  #limits(topic: string): Limits {
    const policy = typeof this.#history === 'function' ? this.#history(topic) : this.#history;
    return limitsOf(policy);
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
    if (this.#subscriber.status !== 'ready') return Promise.resolve();
    const done = this.#subscriber.unsubscribe(state.channel).then(NOOP);
    done.catch(NOOP);
    return done;
  }

  /**
   * One try of a sync: the channel subscribed, then the read (which publishes the marker). It
   * finishes when both the reply and the marker are in. A lost subscriber connection starts a
   * new try (#onSubscriberReady), so does the publisher's coming back after a failed read.
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
    // Once connected, a subscribe fails fast while Redis is unreachable (as a publish does);
    // before the first connection, and for catching up, it waits.
    const failFast = !sync.catchUp && this.#connectedOnce();
    if (failFast && (this.#subscriber.status !== 'ready' || this.#publisher.status !== 'ready')) {
      this.#unreachable(sync);
      return;
    }
    if (this.#subscriber.status !== 'ready') {
      sync.session = -1; // the next 'ready' tries again
      return;
    }
    sync.session = this.#session;
    const state = sync.state;
    const stale = (): boolean => this.#closed || sync.attempt !== attempt;
    try {
      state.subscribed ??= this.#subscribeChannel(state);
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
      raw = await this.#publisher.galeReadBuffer(
        ...this.#keys(state.topic),
        this.#epochCandidate(),
        after?.epoch ?? '',
        after?.offset ?? 0,
        limits.keep ? '1' : '0',
        limits.maxAge < 0 ? '' : this.#now() - limits.maxAge,
        limits.metaTtl,
        this.#instanceChannel,
        marker,
      );
    } catch (error) {
      if (stale()) return;
      if (this.#publisher.status !== 'ready') {
        if (failFast) this.#unreachable(sync, error);
        else this.#waiting.add(sync); // tried again when the publisher is back
        return;
      }
      this.#fail(sync, error);
      return;
    }
    if (stale()) return;
    sync.reply = this.#parseReply(state.topic, raw, latest);
    if (sync.markerSeen) this.#finish(sync);
  }

  #subscribeChannel(state: TopicState): Promise<void> {
    const done = this.#subscriber.subscribe(state.channel).then(NOOP);
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
      return { position, delivery: new TopicDelivery(topic, message, position), exclude };
    });
    return { head: { epoch, offset: Number(raw[1]) }, entries, latest };
  }

  #connectedOnce(): boolean {
    return this.#session > 0 && this.#publisherReadyOnce;
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

  #onMessage(channel: Buffer, message: Buffer): void {
    if (this.#closed || message.length < HEADER) return;
    const kind = message[0];
    if (kind === MARKER) {
      if (this.#origin.compare(message, 1, 9) !== 0) return;
      const sync = this.#markers.get(message.readUInt32BE(9));
      if (sync === undefined || sync.session !== this.#session) return;
      sync.markerSeen = true;
      if (sync.reply !== undefined) this.#finish(sync);
      return;
    }
    const name = channel.toString('utf8');
    const state = this.#topics.get(name.slice(this.#prefix.length + 1, -1));
    if (state === undefined || state.channel !== name) return;
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
      ),
      exclude,
    };
    for (const sync of state.syncs) if (sync.markerSeen) sync.queue.push(event);
    for (const subscriber of state.live.keys()) this.#advance(state, subscriber, event);
  }

  async #onSubscriberReady(): Promise<void> {
    const isReconnect = this.#session > 0;
    const session = ++this.#session;
    // Before anything can arrive on the new connection: every try in flight is void (its marker
    // may be lost), and, after a loss, each live subscriber catches up from the stream, from
    // where it was (one read per distinct position), since pub/sub kept nothing meanwhile.
    const states = [...this.#topics.values()];
    for (const state of states) {
      for (const sync of state.syncs) {
        this.#markers.delete(sync.marker);
        sync.attempt++;
        sync.session = -1;
        sync.markerSeen = false;
        sync.reply = undefined;
        sync.queue = [];
      }
      if (!isReconnect || state.live.size === 0) continue;
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
    const all = this.#subscriber.subscribe(
      this.#instanceChannel,
      ...states.map((state) => state.channel),
    );
    const subscribed = all.then(NOOP);
    subscribed.catch(NOOP);
    for (const state of states) state.subscribed = subscribed;
    try {
      await all;
    } catch (error) {
      if (!this.#closed) {
        this.#logger.error(`redis subscriber: could not resubscribe: ${String(error)}`);
      }
      return;
    }
    if (this.#closed || session !== this.#session) return;
    for (const state of this.#topics.values()) {
      for (const sync of state.syncs) {
        if (sync.session !== session) void this.#attempt(sync);
      }
    }
    if (!isReconnect) return;
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

function readyOf(connection: Redis): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => connection.once('ready', () => resolve()));
}

async function quit(connection: Redis): Promise<void> {
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
