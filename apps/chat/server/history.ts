/** A chat message as it is sent to clients and kept in the history. */
export interface ChatMessage {
  readonly type: 'message';
  /**
   * Unique to this message (a random UUID): a page that gets a history and also the message
   * itself (said while the history was being read) shows it once. Absent from messages stored
   * before ids came.
   */
  readonly id?: string;
  /** The sender's nickname, as registered. */
  readonly from: string;
  /** The text as sent (clients render it as text, never as HTML). */
  readonly text: string;
  /** When the server received it, ISO 8601 in UTC. */
  readonly at: string;
}

/**
 * The room's recent messages, oldest first. Async so that a shared store (Redis: `RPUSH` then
 * `LTRIM` to the capacity, `LRANGE` to read) can implement it.
 */
export interface History {
  /** Adds a message, dropping the oldest beyond the store's capacity. */
  append(message: ChatMessage): Promise<void>;
  /** The last `n` messages (fewer if there are not as many), oldest first. */
  last(n: number): Promise<ChatMessage[]>;
}

/** The history of one process: a bounded list. */
export class MemoryHistory implements History {
  readonly #capacity: number;
  #messages: ChatMessage[] = [];

  /** Keeps at most `capacity` messages (50 by default, what a newcomer is shown). */
  constructor(capacity = 50) {
    this.#capacity = capacity;
  }

  append(message: ChatMessage): Promise<void> {
    this.#messages.push(message);
    // Trimmed in batches, not on every append, so a busy room does not shift the array each time.
    if (this.#messages.length >= 2 * this.#capacity) {
      this.#messages = this.#messages.slice(-this.#capacity);
    }
    return Promise.resolve();
  }

  last(n: number): Promise<ChatMessage[]> {
    const count = Math.max(0, Math.min(n, this.#capacity));
    return Promise.resolve(count === 0 ? [] : this.#messages.slice(-count));
  }
}
