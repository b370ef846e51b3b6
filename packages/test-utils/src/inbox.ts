/**
 * An unbounded queue a test can await: event listeners `push`, the test takes items in order with
 * `next()`, which waits for one if none is unread. Nothing is missed between two `next()` calls,
 * however the items arrive (a message the server writes in `open()` may come in the same read as
 * the 101). `end(why)` makes every pending and later `next()` on a drained inbox reject, so a test
 * waiting for something that can no longer come (the connection closed) fails at once.
 */
export class Inbox<T> {
  /** Everything pushed so far, read or not, in order. */
  readonly received: T[] = [];
  #read = 0;
  readonly #waiters: Array<{ resolve: (item: T) => void; reject: (error: Error) => void }> = [];
  #endedWith: string | null = null;

  /** Adds an item: the oldest pending `next()` gets it, or it waits for the next one. */
  push(item: T): void {
    this.received.push(item);
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(this.received[this.#read++]!);
  }

  /** The oldest unread item; waits for one if there is none (rejects once ended and drained). */
  next(): Promise<T> {
    if (this.#read < this.received.length) return Promise.resolve(this.received[this.#read++]!);
    if (this.#endedWith !== null) return Promise.reject(new Error(this.#endedWith));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** How many items were pushed and not yet taken by `next()`. */
  get unread(): number {
    return this.received.length - this.#read;
  }

  /** Nothing more will come: pending and later `next()` calls, once drained, reject with `why`. */
  end(why = 'the inbox ended'): void {
    this.#endedWith = why;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(why));
  }
}
