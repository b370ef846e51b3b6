import { encodeFrame, encodeTextFrame, Opcode } from '@gale/frame';
import type { TopicSubscriber } from './connection.js';

/** What may be published: text, bytes, or an object sent as JSON text. */
export type TopicMessage = string | Uint8Array | object;

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
 * The subscribers of this process, by topic. `deliver` frames a message once and writes the same
 * bytes to every subscriber; writes to one socket within a tick leave together (the connection
 * corks its socket until the next tick).
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

  /** Frames `message` once and writes it to every local subscriber of `topic` but `exclude`. */
  deliver(topic: string, message: TopicMessage, exclude?: TopicSubscriber): void {
    const set = this.#topics.get(topic);
    if (set === undefined || set.size === 0) return;
    // Sent uncompressed (RSV1 clear) even to connections that negotiated permessage-deflate:
    // compression is per message (RFC 7692 §6), and one set of bytes serves everyone.
    const chunks = frameMessage(message);
    for (const subscriber of set) if (subscriber !== exclude) subscriber.sendFrame(chunks);
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
