import { encodeFrame, encodeTextFrame, Opcode } from '@gale/frame';
import { encodeTopicMessage, type Position } from '@gale/frame/resume';

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
    const delivery = new TopicDelivery(topic, toPayload(message), position);
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
  #frames: Uint8Array[] | undefined = undefined;
  #envelope: Uint8Array[] | undefined = undefined;

  constructor(topic: string, payload: string | Uint8Array, position: Position) {
    this.topic = topic;
    this.payload = payload;
    this.position = position;
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

/**
 * The default broker: topics within this process. Positions only for now (history: issue 16,
 * in progress).
 */
export class MemoryBroker implements Broker {
  readonly local: LocalTopics = new LocalTopics();
  readonly #heads = new Map<string, { epoch: string; offset: number }>();

  #head(topic: string): { epoch: string; offset: number } {
    let head = this.#heads.get(topic);
    if (head === undefined) {
      head = { epoch: newEpoch(), offset: 0 };
      this.#heads.set(topic, head);
    }
    return head;
  }

  subscribe(
    topic: string,
    subscriber: TopicSubscriber,
    options?: SubscribeOptions,
  ): SubscriptionStart {
    const head = this.#head(topic);
    const position = { epoch: head.epoch, offset: head.offset };
    const after = options?.after;
    const start: SubscriptionStart =
      after === undefined
        ? { status: 'fresh', position }
        : after.epoch === head.epoch && after.offset === head.offset
          ? { status: 'resumed', position }
          : { status: 'gap', position, from: after };
    subscriber.started?.(topic, start);
    this.local.add(topic, subscriber);
    return start;
  }

  unsubscribe(topic: string, subscriber: TopicSubscriber): void {
    this.local.delete(topic, subscriber);
  }

  publish(topic: string, message: TopicMessage, options?: PublishOptions): Position {
    const head = this.#head(topic);
    head.offset++;
    const position = { epoch: head.epoch, offset: head.offset };
    this.local.deliver(topic, message, position, options?.exclude);
    return position;
  }
}

/** A new epoch: 12 random URL-safe characters. */
export function newEpoch(): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
