import { MessageDroppedError } from './errors.js';
import type { Message } from './options.js';
import type { Transport } from './transport.js';

interface Pending {
  readonly data: Message;
  readonly binary: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const NOOP = (): void => {};

/**
 * The messages written while no socket could take them (connecting, reconnecting), up to
 * `sendQueueSize`, sent in order on the next socket with `flush()`. Nothing leaves it silently:
 * a message that does not fit, or that `dropAll()` gives up on, rejects its write promise with
 * `MessageDroppedError` and is reported to `onDrop` (the connection's `drop` event).
 */
export class Outbox {
  readonly #sendQueueSize: number;
  readonly #onDrop: (error: MessageDroppedError) => void;
  #queue: Pending[] = [];

  constructor(sendQueueSize: number, onDrop: (error: MessageDroppedError) => void) {
    this.#sendQueueSize = sendQueueSize;
    this.#onDrop = onDrop;
  }

  /** Whether no message waits (a write may then go straight to an open transport). */
  get isEmpty(): boolean {
    return this.#queue.length === 0;
  }

  /**
   * Queues a message for the next `flush()`. The promise resolves when its bytes are handed to
   * the kernel, or rejects with `MessageDroppedError` (at once when the queue is full); it never
   * counts as unhandled, and awaiting it still throws.
   */
  enqueue(data: Message, binary: boolean): Promise<void> {
    let done: Promise<void>;
    if (this.#queue.length >= this.#sendQueueSize) {
      done = Promise.reject(
        this.#drop(data, `the send queue is full (sendQueueSize ${this.#sendQueueSize})`),
      );
    } else {
      done = new Promise<void>((resolve, reject) => {
        this.#queue.push({ data, binary, resolve, reject });
      });
    }
    done.catch(NOOP);
    return done;
  }

  /**
   * Sends the queue on `transport`, in order, each write's promise following its bytes.
   * `beforeQueue` runs first with the queue set aside, so that what it writes (an `onReconnect`
   * resubscription) finds it empty and goes out ahead. Stops, keeping the rest in order, once
   * `isOpen()` says the transport went away meanwhile.
   */
  flush(transport: Transport, isOpen: () => boolean, beforeQueue: () => void = NOOP): void {
    const queued = this.#queue;
    this.#queue = [];
    beforeQueue();
    const queue = queued.concat(this.#queue);
    this.#queue = [];
    for (let i = 0; i < queue.length; i++) {
      if (!isOpen()) {
        this.#queue = queue.slice(i).concat(this.#queue);
        return;
      }
      const entry = queue[i]!;
      transport.send(entry.data, entry.binary, true).then(entry.resolve, entry.reject);
    }
  }

  /** Gives up on every queued message: each is dropped as `never sent: ${why}`, with `cause`. */
  dropAll(why: string, cause: Error | undefined): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const entry of queue) entry.reject(this.#drop(entry.data, `never sent: ${why}`, cause));
  }

  #drop(data: Message, reason: string, cause?: Error): MessageDroppedError {
    const error = new MessageDroppedError(
      `Message dropped: ${reason}`,
      data,
      cause === undefined ? undefined : { cause },
    );
    this.#onDrop(error);
    return error;
  }
}
