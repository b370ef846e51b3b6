import { encodeFrame, encodeTextFrame, Opcode } from '@gale/frame';
import { encodeTopicMessage, type Position } from '@gale/frame/resume';
import { type Clock, systemClock, unref } from '@gale/io/clock';
import { InvalidArgumentError } from './errors.js';

/** What may be published: text, bytes, or an object sent as JSON text. */
export type TopicMessage = string | Uint8Array | object;

export type { Position };

/**
 * One message on its way to the subscribers of this process: its topic and position, and its
 * framed bytes in both wire forms, each built at most once for every subscriber that asks.
 */
export interface Delivery {
  readonly topic: string;
  /** Where the message is in its topic's history. */
  readonly position: Position;
  /**
   * The subscriber the publisher excluded (it is told `skipped` instead), when the broker knows
   * it: a runtime that sends one message to a whole topic natively (Bun) leaves it out.
   */
  readonly exclude?: TopicSubscriber | undefined;
  /** The message framed as a server sends it to a plain WebSocket client (unmasked). */
  frame(): readonly Uint8Array[];
  /** The message framed in gale.v1's envelope (topic and position before it), for gale clients. */
  envelope(): readonly Uint8Array[];
}

/**
 * How a subscription started: `fresh` (no position was presented: the subscriber is at the
 * topic's head), `resumed` (every message after the presented position was replayed, or none was
 * missed) or `gap` (some could not be replayed: those after `from` up to and including `position`;
 * what was still kept after `position` was replayed). Every later message follows `position`.
 */
export type SubscriptionStart =
  | { readonly status: 'fresh'; readonly position: Position }
  | { readonly status: 'resumed'; readonly position: Position }
  | { readonly status: 'gap'; readonly position: Position; readonly from: Position };

/**
 * Something that receives the messages of the topics it subscribed to: a connection (which writes
 * the framed bytes to its socket) or a callback (`WebSocketHandler.subscribe(topic, listener)`).
 */
export interface TopicSubscriber {
  /**
   * A message published to one of its topics: text as a string, bytes as a Uint8Array, an object
   * as its JSON text, with its position and framed bytes (the same bytes for every socket).
   */
  deliver(message: string | Uint8Array, delivery: Delivery): void;
  /**
   * Optional: the subscription to `topic` started (called once per `subscribe`, before any
   * replayed or live message of it is delivered).
   */
  started?(topic: string, start: SubscriptionStart): void;
  /**
   * Optional: a message of `topic` at `position` was published with this subscriber excluded
   * (`PublishOptions.exclude`); a subscriber that tracks positions moves past it.
   */
  skipped?(topic: string, position: Position): void;
}

/** Options for `subscribe`. */
export interface SubscribeOptions {
  /**
   * Resume after this position: the messages of the topic after it are delivered first (in
   * order, each once), then live ones. Without it the subscription starts at the topic's head.
   */
  readonly after?: Position | undefined;
}

/** Options for `publish`. */
export interface PublishOptions {
  /** A subscriber that must not receive this message (usually the publisher itself). */
  readonly exclude?: TopicSubscriber | undefined;
}

/**
 * What a topic keeps for subscribers that resume. A message is dropped from the history once any
 * limit is passed; `latest: true` keeps only the newest message (a value, not a log), and a resume
 * there gets that message alone, with no gap for the values it replaced.
 */
export interface HistoryOptions {
  /** Messages kept per topic. Default 1000. */
  readonly maxCount?: number;
  /** Milliseconds a message is kept. Default 300,000 (5 minutes). */
  readonly maxAge?: number;
  /** Payload bytes kept per topic. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Keep only the newest message of the topic. Default false. */
  readonly latest?: boolean;
}

/**
 * The history policy of a broker: one for every topic, `false` to keep none (positions are still
 * given, so a resume still learns exactly what it missed), or a function choosing per topic.
 */
export type HistoryPolicy = HistoryOptions | false | ((topic: string) => HistoryOptions | false);

/**
 * Carries published messages to topic subscribers. The in-memory default serves one process; a
 * Redis broker (for several instances) implements the same interface and hands what it receives
 * to its own {@link LocalTopics}, so handlers never change.
 */
export interface Broker {
  /**
   * Subscribes `subscriber` to `topic`; calls `subscriber.started` first, then delivers what a
   * resume replays, then live messages, with no gap and no duplicate between them.
   */
  subscribe(
    topic: string,
    subscriber: TopicSubscriber,
    options?: SubscribeOptions,
  ): SubscriptionStart | Promise<SubscriptionStart>;
  unsubscribe(topic: string, subscriber: TopicSubscriber): void | Promise<void>;
  /** Publishes `message`; returns (or resolves to) its position in the topic. */
  publish(
    topic: string,
    message: TopicMessage,
    options?: PublishOptions,
  ): Position | Promise<Position>;
  /** Releases what the broker holds (connections, timers); called by `Application.close()`. */
  close?(): void | Promise<void>;
}

/**
 * The subscribers of this process, by topic. `deliver` hands a message to every subscriber;
 * the framed bytes are built once per wire form, on the first socket's request, and every socket
 * writes the same bytes (the connection corks its socket until the turn ends, so one socket's
 * messages of a turn leave together).
 */
export class LocalTopics {
  readonly #topics = new Map<string, Set<TopicSubscriber>>();

  add(topic: string, subscriber: TopicSubscriber): void {
    let set = this.#topics.get(topic);
    if (set === undefined) {
      set = new Set();
      this.#topics.set(topic, set);
    }
    set.add(subscriber);
  }

  delete(topic: string, subscriber: TopicSubscriber): void {
    const set = this.#topics.get(topic);
    if (set === undefined) return;
    set.delete(subscriber);
    if (set.size === 0) this.#topics.delete(topic);
  }

  /** Whether `subscriber` is subscribed to `topic` here. */
  has(topic: string, subscriber: TopicSubscriber): boolean {
    return this.#topics.get(topic)?.has(subscriber) ?? false;
  }

  /** How many local subscribers `topic` has. */
  count(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /**
   * Hands the message at `position` to every local subscriber of `topic` but `exclude`, which
   * is told it was skipped.
   */
  deliver(
    topic: string,
    message: TopicMessage,
    position: Position,
    exclude?: TopicSubscriber,
  ): void {
    const set = this.#topics.get(topic);
    if (set === undefined || set.size === 0) return;
    const delivery = new TopicDelivery(topic, toPayload(message), position, exclude);
    for (const subscriber of set) {
      if (subscriber !== exclude) subscriber.deliver(delivery.payload, delivery);
      else subscriber.skipped?.(topic, position);
    }
  }
}

/** What is published, as subscribers receive it: an object becomes its JSON text. */
export function toPayload(message: TopicMessage): string | Uint8Array {
  return typeof message === 'string' || message instanceof Uint8Array
    ? message
    : JSON.stringify(message);
}

/**
 * A message and its two wire forms, each framed at most once. Sent uncompressed (RSV1 clear) even
 * to connections that negotiated permessage-deflate: compression is per message (RFC 7692 §6),
 * and one set of bytes serves everyone.
 */
export class TopicDelivery implements Delivery {
  readonly topic: string;
  readonly payload: string | Uint8Array;
  readonly position: Position;
  readonly exclude: TopicSubscriber | undefined;
  #frames: Uint8Array[] | undefined = undefined;
  #envelope: Uint8Array[] | undefined = undefined;

  constructor(
    topic: string,
    payload: string | Uint8Array,
    position: Position,
    exclude?: TopicSubscriber,
  ) {
    this.topic = topic;
    this.payload = payload;
    this.position = position;
    this.exclude = exclude;
  }

  frame(): readonly Uint8Array[] {
    this.#frames ??= frameMessage(this.payload);
    return this.#frames;
  }

  envelope(): readonly Uint8Array[] {
    this.#envelope ??= frameMessage(encodeTopicMessage(this.topic, this.position, this.payload));
    return this.#envelope;
  }
}

/** Frames a topic message as it goes on the wire from a server (unmasked). */
export function frameMessage(message: TopicMessage): Uint8Array[] {
  if (typeof message === 'string') return encodeTextFrame(message);
  if (message instanceof Uint8Array) return encodeFrame(Opcode.BINARY, message);
  return encodeTextFrame(JSON.stringify(message));
}

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions {
  /**
   * What each topic keeps for subscribers that resume (see {@link HistoryOptions}): by default the
   * last 1000 messages, of at most 5 minutes, within 1 MiB of payload. `false` keeps none (a
   * resume still learns exactly what it missed).
   */
  readonly history?: HistoryPolicy | undefined;
  /** Where message times and the sweep timer come from. The system clock by default. */
  readonly clock?: Clock | undefined;
}

/** The defaults of {@link HistoryOptions}. */
export const HISTORY_DEFAULTS: Readonly<Required<HistoryOptions>> = Object.freeze({
  maxCount: 1000,
  maxAge: 300_000,
  maxBytes: 1024 * 1024,
  latest: false,
});

// setTimeout's longest delay: a longer one fires at once.
const MAX_TIMER = 2 ** 31 - 1;

/** One kept message of a topic. */
interface Kept {
  readonly offset: number;
  readonly payload: string | Uint8Array;
  readonly bytes: number;
  readonly time: number;
}

/** What the broker knows of one topic: its epoch, its head and what it keeps. */
interface TopicState {
  readonly epoch: string;
  /** The offset of the last message published (0 before the first). */
  offset: number;
  readonly history: Required<HistoryOptions> | false;
  /** Kept messages, oldest first, from `first` on (a deque: the front is dropped by index). */
  readonly kept: Kept[];
  first: number;
  bytes: number;
}

/** Messages published while a subscriber was being replayed to: delivered after the replay. */
interface Replay {
  readonly pending: Array<{ payload: string | Uint8Array; position: Position; skipped: boolean }>;
  cancelled: boolean;
}

/**
 * The default broker: the topics of this process, with a history per topic so that a subscriber
 * that presents a position (`SubscribeOptions.after`, from a gale.v1 client's hello) gets what it
 * missed, or learns exactly what it cannot get. Everything is synchronous: `subscribe` has
 * `started` called, the replay delivered and the subscriber added before it returns, so nothing
 * published can fall between the replay and live delivery.
 *
 * A topic with no subscribers and nothing kept is forgotten at the next sweep (one timer, every
 * `maxAge`): it starts a new epoch when it is next used, and a resume from the old one is a gap.
 */
export class MemoryBroker implements Broker {
  readonly local: LocalTopics = new LocalTopics();
  readonly #topics = new Map<string, TopicState>();
  readonly #history: HistoryPolicy;
  readonly #clock: Clock;
  readonly #sweepEvery: number;
  readonly #replays = new Map<string, Map<TopicSubscriber, Replay>>();
  #sweepTimer: unknown = undefined;
  #closed = false;

  constructor(options: MemoryBrokerOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('MemoryBroker options must be an object');
    }
    const { history = {}, clock = systemClock } = options;
    if (
      clock === null ||
      typeof clock !== 'object' ||
      typeof clock.now !== 'function' ||
      typeof clock.setTimeout !== 'function' ||
      typeof clock.clearTimeout !== 'function'
    ) {
      throw new InvalidArgumentError('clock must have now, setTimeout and clearTimeout');
    }
    this.#clock = clock;
    if (typeof history === 'function') {
      this.#history = history;
      this.#sweepEvery = HISTORY_DEFAULTS.maxAge;
    } else {
      const resolved = resolveHistory(history);
      this.#history = resolved;
      this.#sweepEvery = Math.min(
        resolved === false ? HISTORY_DEFAULTS.maxAge : resolved.maxAge,
        MAX_TIMER,
      );
    }
  }

  /** How many topics the broker holds state for (subscribed, or with messages kept). */
  get topicCount(): number {
    return this.#topics.size;
  }

  subscribe(
    topic: string,
    subscriber: TopicSubscriber,
    options?: SubscribeOptions,
  ): SubscriptionStart {
    const state = this.#state(topic);
    this.#trim(state);
    const after = options?.after;
    const { start, replay } = startAfter(state, after);
    // Messages published from inside started() or a replayed delivery wait in `pending` and
    // follow the replay: the subscriber is not in `local` yet.
    let replays = this.#replays.get(topic);
    if (replays === undefined) {
      replays = new Map();
      this.#replays.set(topic, replays);
    }
    const pending: Replay = { pending: [], cancelled: false };
    replays.set(subscriber, pending);
    try {
      subscriber.started?.(topic, start);
      for (const kept of replay) {
        if (pending.cancelled) break;
        const position = { epoch: state.epoch, offset: kept.offset };
        subscriber.deliver(kept.payload, new TopicDelivery(topic, kept.payload, position));
      }
      for (let i = 0; i < pending.pending.length && !pending.cancelled; i++) {
        const { payload, position, skipped } = pending.pending[i]!;
        if (skipped) subscriber.skipped?.(topic, position);
        else subscriber.deliver(payload, new TopicDelivery(topic, payload, position));
      }
    } finally {
      replays.delete(subscriber);
      if (replays.size === 0) this.#replays.delete(topic);
    }
    if (!pending.cancelled) this.local.add(topic, subscriber);
    return start;
  }

  unsubscribe(topic: string, subscriber: TopicSubscriber): void {
    const replay = this.#replays.get(topic)?.get(subscriber);
    if (replay !== undefined) replay.cancelled = true;
    this.local.delete(topic, subscriber);
  }

  publish(topic: string, message: TopicMessage, options?: PublishOptions): Position {
    const state = this.#state(topic);
    const payload = toPayload(message);
    const offset = ++state.offset;
    const position = { epoch: state.epoch, offset };
    if (state.history !== false) {
      const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
      state.kept.push({ offset, payload, bytes, time: this.#clock.now() });
      state.bytes += bytes;
    }
    this.#trim(state);
    const exclude = options?.exclude;
    const replays = this.#replays.get(topic);
    if (replays !== undefined) {
      for (const [subscriber, replay] of replays) {
        replay.pending.push({ payload, position, skipped: subscriber === exclude });
      }
    }
    this.local.deliver(topic, payload, position, exclude);
    return position;
  }

  /** Stops the sweep timer. The broker still works (nothing is forgotten any more). */
  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #state(topic: string): TopicState {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      const policy = this.#history;
      const history = typeof policy === 'function' ? resolveHistory(policy(topic)) : policy;
      state = {
        epoch: newEpoch(),
        offset: 0,
        history: history as Required<HistoryOptions> | false,
        kept: [],
        first: 0,
        bytes: 0,
      };
      this.#topics.set(topic, state);
      this.#armSweep();
    }
    return state;
  }

  // Drops what is past the topic's limits: age (on the clock), count and bytes.
  #trim(state: TopicState): void {
    const history = state.history;
    if (history === false) return;
    const { kept } = state;
    const oldest = this.#clock.now() - history.maxAge;
    const maxCount = history.latest ? 1 : history.maxCount;
    let first = state.first;
    let bytes = state.bytes;
    while (
      first < kept.length &&
      (kept.length - first > maxCount || bytes > history.maxBytes || kept[first]!.time <= oldest)
    ) {
      bytes -= kept[first]!.bytes;
      first++;
    }
    state.bytes = bytes;
    if (first === kept.length) {
      kept.length = 0;
      first = 0;
    } else if (first > 32 && first * 2 > kept.length) {
      kept.splice(0, first);
      first = 0;
    }
    state.first = first;
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), this.#sweepEvery);
    unref(this.#sweepTimer);
  }

  // Forgets the topics nobody subscribes to whose history is empty; runs while any topic is held.
  #sweep(): void {
    this.#sweepTimer = undefined;
    for (const [topic, state] of this.#topics) {
      this.#trim(state);
      if (state.kept.length === 0 && this.local.count(topic) === 0 && !this.#replays.has(topic)) {
        this.#topics.delete(topic);
      }
    }
    if (this.#topics.size > 0) this.#armSweep();
  }
}

/**
 * How a subscription starts from the topic's state (docs/resume-protocol.md §4), and what it
 * replays.
 */
function startAfter(
  state: TopicState,
  after: Position | undefined,
): { start: SubscriptionStart; replay: readonly Kept[] } {
  const { epoch, kept, first } = state;
  const head: Position = { epoch, offset: state.offset };
  if (after === undefined) return { start: { status: 'fresh', position: head }, replay: [] };
  const oldest = first < kept.length ? kept[first]!.offset : state.offset + 1;
  const sameEpoch = after.epoch === epoch;
  if (sameEpoch && after.offset > state.offset) {
    // A position this epoch never reached: the client cannot be trusted to hold what it thinks
    // it holds. A gap sends it to a fresh snapshot.
    return { start: { status: 'gap', position: head, from: after }, replay: [] };
  }
  if (state.history !== false && state.history.latest && first < kept.length) {
    // A value, not a log: the values between were replaced, not lost. Only the latest is sent,
    // and only if it is after the client's position.
    const latest = kept[kept.length - 1]!;
    const before = { epoch, offset: latest.offset - 1 };
    if (!sameEpoch)
      return { start: { status: 'gap', position: before, from: after }, replay: [latest] };
    if (latest.offset <= after.offset)
      return { start: { status: 'resumed', position: head }, replay: [] };
    return { start: { status: 'resumed', position: before }, replay: [latest] };
  }
  if (sameEpoch && oldest <= after.offset + 1) {
    return {
      start: { status: 'resumed', position: { epoch, offset: after.offset } },
      replay: kept.slice(first + (after.offset + 1 - oldest)),
    };
  }
  return {
    start: { status: 'gap', position: { epoch, offset: oldest - 1 }, from: after },
    replay: kept.slice(first),
  };
}

/** Checks and completes history options; throws `InvalidArgumentError`. */
function resolveHistory(options: unknown): Required<HistoryOptions> | false {
  if (options === false) return false;
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('history must be an object, false or a function');
  }
  const { maxCount, maxAge, maxBytes, latest } = options as HistoryOptions;
  const resolved = {
    maxCount: maxCount ?? HISTORY_DEFAULTS.maxCount,
    maxAge: maxAge ?? HISTORY_DEFAULTS.maxAge,
    maxBytes: maxBytes ?? HISTORY_DEFAULTS.maxBytes,
    latest: latest ?? HISTORY_DEFAULTS.latest,
  };
  for (const key of ['maxCount', 'maxBytes'] as const) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`history.${key} must be a positive integer`);
    }
  }
  if (
    typeof resolved.maxAge !== 'number' ||
    !Number.isFinite(resolved.maxAge) ||
    resolved.maxAge <= 0
  ) {
    throw new InvalidArgumentError('history.maxAge must be a positive number of milliseconds');
  }
  if (typeof resolved.latest !== 'boolean') {
    throw new InvalidArgumentError('history.latest must be a boolean');
  }
  return resolved;
}

/** A new epoch: 12 random URL-safe characters. */
export function newEpoch(): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
