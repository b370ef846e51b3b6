import { encodeFrame, encodeTextFrame, Opcode } from '@gale/frame';

/** What may be published: text, bytes, or an object sent as JSON text. */
export type TopicMessage = string | Uint8Array | object;

/**
 * Something that receives the messages of the topics it subscribed to: a connection (which writes
 * the framed bytes to its socket) or a callback (`WebSocketHandler.subscribe(topic, listener)`).
 */
export interface TopicSubscriber {
  /**
   * A message published to one of its topics: text as a string, bytes as a Uint8Array, an object
   * as its JSON text. `frame()` returns the message framed as a server sends it, built once for
   * every subscriber that asks (the same bytes for every socket).
   */
  deliver(message: string | Uint8Array, frame: () => readonly Uint8Array[]): void;
}

/** Options for `publish`. */
export interface PublishOptions {
  /** A subscriber that must not receive this message (usually the publisher itself). */
  readonly exclude?: TopicSubscriber | undefined;
}

/**
 * Carries published messages to topic subscribers. The in-memory default serves one process; a
 * Redis broker (for several instances) implements the same interface and hands what it receives
 * to its own {@link LocalTopics}, so handlers never change.
 */
export interface Broker {
  subscribe(topic: string, subscriber: TopicSubscriber): void | Promise<void>;
  unsubscribe(topic: string, subscriber: TopicSubscriber): void | Promise<void>;
  publish(topic: string, message: TopicMessage, options?: PublishOptions): void | Promise<void>;
  /** Releases what the broker holds (connections, timers); called by `Application.close()`. */
  close?(): void | Promise<void>;
}

/**
 * The subscribers of this process, by topic. `deliver` hands a message to every subscriber;
 * the framed bytes are built once, on the first socket's request, and every socket writes the
 * same bytes (the connection corks its socket until the turn ends, so one socket's messages of a
 * turn leave together).
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

  /** How many local subscribers `topic` has. */
  count(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** Hands `message` to every local subscriber of `topic` but `exclude`. */
  deliver(topic: string, message: TopicMessage, exclude?: TopicSubscriber): void {
    const set = this.#topics.get(topic);
    if (set === undefined || set.size === 0) return;
    const payload =
      typeof message === 'string' || message instanceof Uint8Array
        ? message
        : JSON.stringify(message);
    // Sent uncompressed (RSV1 clear) even to connections that negotiated permessage-deflate:
    // compression is per message (RFC 7692 §6), and one set of bytes serves everyone.
    let frames: Uint8Array[] | undefined;
    const frame = (): readonly Uint8Array[] => {
      frames ??= frameMessage(payload);
      return frames;
    };
    for (const subscriber of set) if (subscriber !== exclude) subscriber.deliver(payload, frame);
  }
}

/** Frames a topic message as it goes on the wire from a server (unmasked). */
export function frameMessage(message: TopicMessage): Uint8Array[] {
  if (typeof message === 'string') return encodeTextFrame(message);
  if (message instanceof Uint8Array) return encodeFrame(Opcode.BINARY, message);
  return encodeTextFrame(JSON.stringify(message));
}

/** The default broker: topics within this process. */
export class MemoryBroker implements Broker {
  readonly local: LocalTopics = new LocalTopics();

  subscribe(topic: string, subscriber: TopicSubscriber): void {
    this.local.add(topic, subscriber);
  }

  unsubscribe(topic: string, subscriber: TopicSubscriber): void {
    this.local.delete(topic, subscriber);
  }

  publish(topic: string, message: TopicMessage, options?: PublishOptions): void {
    this.local.deliver(topic, message, options?.exclude);
  }
}
