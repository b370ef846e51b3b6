import type { Broker, Delivery, TopicSubscriber } from '../topics.js';
import type { BunServer } from './bun-api.js';

/** A socket subscribed to a {@link BunTopic}. */
export interface BunTopicMember {
  /** Publishes natively to the topic's other sockets on this server (Bun's `ws.publish`). */
  publishExcludingSelf(topic: string, message: string | Uint8Array): void;
}

/**
 * One topic on one Bun server: the broker's only subscriber for it, however many of the server's
 * sockets joined it (each with Bun's `ws.subscribe`). A message reaches all of them in one
 * native publish, framed once by Bun, instead of one call per socket; the socket the publisher
 * excluded (`Delivery.exclude`) publishes it itself, which leaves it out. The broker stays the
 * source of truth: a message published on another instance (Redis) arrives here like a local one.
 */
export class BunTopic implements TopicSubscriber {
  readonly topic: string;
  readonly #server: BunServer;
  readonly #broker: Broker;
  readonly #registry: Map<string, BunTopic>;
  readonly #members = new Set<BunTopicMember>();
  #started: void | Promise<void> = undefined;

  /** A topic of `server` through `broker`, listed in `registry` while it has members. */
  constructor(topic: string, server: BunServer, broker: Broker, registry: Map<string, BunTopic>) {
    this.topic = topic;
    this.#server = server;
    this.#broker = broker;
    this.#registry = registry;
    registry.set(topic, this);
  }

  /** Adds a socket (already subscribed natively); the first one subscribes the topic. */
  add(member: BunTopicMember): void | Promise<void> {
    this.#members.add(member);
    if (this.#members.size === 1) {
      const started = this.#broker.subscribe(this.topic, this);
      if (started instanceof Promise) this.#started = started.then(() => {});
    }
    return this.#started;
  }

  /** Removes a socket; the last one unsubscribes the topic. */
  remove(member: BunTopicMember): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    if (this.#registry.get(this.topic) === this) this.#registry.delete(this.topic);
    void this.#broker.unsubscribe(this.topic, this);
  }

  deliver(message: string | Uint8Array, delivery: Delivery): void {
    const exclude = delivery.exclude as BunTopicMember | undefined;
    if (exclude !== undefined && this.#members.has(exclude)) {
      exclude.publishExcludingSelf(this.topic, message);
    } else {
      this.#server.publish(this.topic, message, false);
    }
  }
}
