import { InvalidStateError, reportCallbackError } from './errors.js';
import type { Message } from './options.js';
import type { Transport } from './transport.js';

/**
 * What a connection received and the application has not taken yet: the read queue of
 * `readMessage()` and the readers waiting on it, or, with an `onMessage` callback, the messages
 * waiting for it, run one at a time in order. It applies backpressure by pausing the transport:
 * while `readQueueSize` messages are unread, or while an async `onMessage` runs.
 *
 * The connection hands it each transport with `attach()` (and `detach()` when the socket is
 * gone), each message with `deliver()`, calls `keepReading()` once `close()` was called and
 * `end()` once closed for good.
 */
export class Inbox {
  readonly #readQueueSize: number;
  readonly #onMessage: ((message: Message) => void | Promise<void>) | undefined;

  // Messages waiting for readMessage() or onMessage, from #head on; readers waiting for messages.
  #messages: Message[] = [];
  #head = 0;
  #readers: Array<(message: Message | null) => void> = [];
  #transport: Transport | null = null;
  #isPaused = false;
  #mayPause = true;
  #isCallbackBusy = false;
  #isEnded = false;

  /** `onMessage`, if given, receives every message instead of `read()`. */
  constructor(
    readQueueSize: number,
    onMessage: ((message: Message) => void | Promise<void>) | undefined,
  ) {
    this.#readQueueSize = readQueueSize;
    this.#onMessage = onMessage;
  }

  /** Messages received and not yet read (or not yet given to `onMessage`). */
  get size(): number {
    return this.#messages.length - this.#head;
  }

  /** Reading now comes from `transport`, paused at once if reading is paused. */
  attach(transport: Transport): void {
    this.#transport = transport;
    if (this.#isPaused) transport.pause();
  }

  /** The transport is gone: pausing and resuming wait for the next one. */
  detach(): void {
    this.#transport = null;
  }

  /** A message arrived: to a waiting reader, to `onMessage`, or into the read queue. */
  deliver(message: Message): void {
    const onMessage = this.#onMessage;
    if (onMessage !== undefined) {
      this.#messages.push(message);
      this.#runCallbacks(onMessage);
      return;
    }
    const reader = this.#readers.shift();
    if (reader !== undefined) {
      reader(message);
      return;
    }
    this.#messages.push(message);
    if (!this.#isPaused && this.size >= this.#readQueueSize) this.#pause();
  }

  /**
   * The next message, or null once ended and drained; reading resumes when the queue falls
   * below `readQueueSize`. Throws `InvalidStateError` when messages go to `onMessage`.
   */
  read(): Promise<Message | null> {
    if (this.#onMessage !== undefined) {
      throw new InvalidStateError('readMessage() is not available when onMessage is set');
    }
    if (this.#head < this.#messages.length) {
      const message = this.#messages[this.#head]!;
      // Let the message go as soon as it is read, not when the queue next empties.
      this.#messages[this.#head++] = '';
      if (this.#head === this.#messages.length) this.#clear();
      if (this.#isPaused && this.size < this.#readQueueSize) this.#resume();
      return Promise.resolve(message);
    }
    if (this.#isEnded) return Promise.resolve(null);
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  /**
   * `close()` was called: reading never pauses again, and resumes now. The server's Close frame
   * must get through (else `close()` would wait for `closeTimeout`), and the messages that
   * arrive before it still join the queue.
   */
  keepReading(): void {
    this.#mayPause = false;
    if (this.#isPaused) this.#transport?.resume();
  }

  /** Closed for good: waiting readers get null, and so does `read()` once the queue is empty. */
  end(): void {
    this.#isEnded = true;
    const readers = this.#readers;
    this.#readers = [];
    for (const reader of readers) reader(null);
  }

  // onMessage in strict order: a returned promise holds back the next message and pauses reading.
  #runCallbacks(onMessage: (message: Message) => void | Promise<void>): void {
    while (!this.#isCallbackBusy && this.#head < this.#messages.length) {
      const message = this.#messages[this.#head++]!;
      if (this.#head === this.#messages.length) this.#clear();
      let result: void | Promise<void>;
      try {
        result = onMessage(message);
      } catch (error) {
        reportCallbackError(error);
        continue;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        this.#isCallbackBusy = true;
        this.#pause();
        (result as Promise<void>).then(
          () => this.#callbackDone(onMessage),
          (error: unknown) => {
            reportCallbackError(error);
            this.#callbackDone(onMessage);
          },
        );
      }
    }
  }

  #callbackDone(onMessage: (message: Message) => void | Promise<void>): void {
    this.#isCallbackBusy = false;
    this.#resume();
    this.#runCallbacks(onMessage);
  }

  #clear(): void {
    this.#messages.length = 0;
    this.#head = 0;
  }

  #pause(): void {
    this.#isPaused = true;
    if (this.#mayPause) this.#transport?.pause();
  }

  #resume(): void {
    this.#isPaused = false;
    this.#transport?.resume();
  }
}
