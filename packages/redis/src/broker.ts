import { randomBytes } from 'node:crypto';
import type { Logger } from '@gale/server';
import {
  type Broker,
  LocalTopics,
  type PublishOptions,
  type TopicMessage,
  type TopicSubscriber,
} from '@gale/server/broker';
import { Redis, type RedisOptions } from 'ioredis';
import { BrokerUnavailableError } from './errors.js';

/** Options of `RedisBroker`. */
export interface RedisBrokerOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` (ioredis URL syntax, `rediss://` for TLS). */
  readonly url: string;
  /** Prepended to every topic to make its channel name. Default `gale:`. */
  readonly prefix?: string;
  /** Where connection losses and dropped messages are reported. Default `console`. */
  readonly logger?: Logger;
  /** Extra ioredis options for both connections (timeouts, TLS, …). */
  readonly redis?: RedisOptions;
}

/** What the broker has done since it started. */
export interface RedisBrokerStats {
  /** Messages published to the other instances. */
  published: number;
  /** Messages received from the other instances. */
  received: number;
  /** Messages that could not reach the other instances (Redis unreachable). */
  dropped: number;
}

// Every message on a channel is [kind][origin: 8 bytes][payload]; kind 0 is text, 1 binary.
const HEADER = 9;
const TEXT = 0;
const BINARY = 1;
const NOOP = (): void => {};

/**
 * A @gale/server `Broker` on Redis pub/sub, for several instances of one app. A message is
 * delivered to this instance's subscribers at once and published once to Redis; each other
 * instance frames it once and writes the same bytes to its subscribers.
 *
 * While Redis cannot be reached, `publish()` still delivers locally and its promise rejects with
 * `BrokerUnavailableError` (also logged and counted in `stats.dropped`; the promise is handled,
 * so a caller that ignores it never crashes). When Redis is back, the broker resubscribes and
 * calls its `onReconnect` listeners: its subscribers may have missed messages published
 * elsewhere meanwhile (Redis pub/sub keeps nothing), so apps resend their state there.
 */
export class RedisBroker implements Broker {
  /** Counters for monitoring and tests. */
  readonly stats: RedisBrokerStats = { published: 0, received: 0, dropped: 0 };
  /** Resolves once both Redis connections are ready the first time. */
  readonly ready: Promise<void>;

  readonly #local = new LocalTopics();
  readonly #prefix: string;
  readonly #origin = randomBytes(8);
  readonly #logger: Logger;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #channels = new Set<string>();
  readonly #reconnectListeners = new Set<() => void>();
  #subscriberReadyBefore = false;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    this.#prefix = options.prefix ?? 'gale:';
    this.#logger = options.logger ?? console;
    const common: RedisOptions = {
      ...options.redis,
      // Reconnect forever, at most every 2 s (ioredis's default backoff).
      retryStrategy: (times) => Math.min(times * 100, 2000),
    };
    // Fail fast while disconnected: a publish is reported at once, never queued for later.
    this.#publisher = new Redis(options.url, { ...common, enableOfflineQueue: false });
    // Subscriptions wait for the connection; the broker itself resubscribes after a loss.
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
    this.ready = Promise.all([readyOf(this.#publisher), readyOf(this.#subscriber)]).then(NOOP);
    this.ready.catch(NOOP);
  }

  /**
   * Calls `listener` each time the connection to Redis comes back after a loss (not on the first
   * connection). Returns a function that removes it.
   */
  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  /**
   * Subscribes `subscriber` to `topic`; resolves once Redis confirmed the channel subscription,
   * or at once while Redis is unreachable (the channel is subscribed when it is back).
   */
  subscribe(topic: string, subscriber: TopicSubscriber): Promise<void> {
    this.#local.add(topic, subscriber);
    const channel = this.#prefix + topic;
    if (this.#channels.has(channel)) return Promise.resolve();
    this.#channels.add(channel);
    // While Redis is down, local delivery works at once and the channel is subscribed on
    // reconnection (#onSubscriberReady), which onReconnect listeners hear about: never wait.
    if (this.#subscriber.status !== 'ready') return Promise.resolve();
    const done = this.#subscriber.subscribe(channel).then(NOOP);
    done.catch(NOOP);
    return done;
  }

  unsubscribe(topic: string, subscriber: TopicSubscriber): Promise<void> {
    this.#local.delete(topic, subscriber);
    const channel = this.#prefix + topic;
    if (this.#local.count(topic) > 0 || !this.#channels.delete(channel)) return Promise.resolve();
    const done = this.#subscriber.unsubscribe(channel).then(NOOP);
    done.catch(NOOP);
    return done;
  }

  /**
   * Delivers `message` to this instance's subscribers of `topic` (but `exclude`) and publishes it
   * to the other instances. Rejects with `BrokerUnavailableError` if it could not reach Redis.
   */
  publish(topic: string, message: TopicMessage, options?: PublishOptions): Promise<void> {
    const text =
      typeof message === 'string'
        ? message
        : message instanceof Uint8Array
          ? null
          : JSON.stringify(message);
    // The same form every instance delivers: an object as its JSON text.
    this.#local.deliver(topic, text ?? (message as Uint8Array), options?.exclude);

    // The payload is written once, straight behind the header.
    let envelope: Buffer;
    if (text === null) {
      const bytes = message as Uint8Array;
      envelope = Buffer.allocUnsafe(HEADER + bytes.length);
      envelope[0] = BINARY;
      envelope.set(bytes, HEADER);
    } else {
      envelope = Buffer.allocUnsafe(HEADER + Buffer.byteLength(text, 'utf8'));
      envelope[0] = TEXT;
      envelope.write(text, HEADER, 'utf8');
    }
    this.#origin.copy(envelope, 1);
    const done = this.#publisher.publish(this.#prefix + topic, envelope).then(
      () => {
        this.stats.published++;
      },
      (error: unknown) => {
        this.stats.dropped++;
        const dropped = new BrokerUnavailableError(topic, { cause: error });
        this.#logger.error(dropped.message);
        throw dropped;
      },
    );
    done.catch(NOOP);
    return done;
  }

  /** Closes both Redis connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([quit(this.#publisher), quit(this.#subscriber)]);
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    if (message.length < HEADER || this.#origin.compare(message, 1, HEADER) === 0) return;
    this.stats.received++;
    const topic = channel.toString('utf8').slice(this.#prefix.length);
    const payload = message.subarray(HEADER);
    this.#local.deliver(topic, message[0] === TEXT ? payload.toString('utf8') : payload);
  }

  async #onSubscriberReady(): Promise<void> {
    const isReconnect = this.#subscriberReadyBefore;
    this.#subscriberReadyBefore = true;
    if (this.#channels.size > 0) {
      try {
        await this.#subscriber.subscribe(...this.#channels);
      } catch (error) {
        this.#logger.error(`redis subscriber: could not resubscribe: ${String(error)}`);
        return;
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

function readyOf(connection: Redis): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => connection.once('ready', () => resolve()));
}

async function quit(connection: Redis): Promise<void> {
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
