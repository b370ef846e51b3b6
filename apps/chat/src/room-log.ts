import type { ServerFrame } from '../server/frames.js';
import type { ChatMessage } from '../server/history.js';
import type { ChatEntry } from './components/message-list.js';

/** The most lines the page keeps: the oldest go first. */
export const MAX_ENTRIES = 500;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * What the room shows, built from the server's frames (no DOM: the page renders it, tests run it
 * in Node). Messages and notices are added as they come. A `history` frame (on entering, after a
 * gap, after the server lost Redis) replaces the list: what arrived since the history was due and
 * is newer than it (said while it was being read: after the last message it also holds) stays
 * after it, and a message it holds that arrives again later (said just before it was read) is not
 * shown twice.
 */
export class RoomLog {
  #entries: readonly ChatEntry[] = [];
  #historyVersion = 0;
  #nextId = 0;
  // While a history is due: the id of the first entry received since.
  #historyDueFrom: number | null = null;

  /** The lines, oldest first; a new array after every change. */
  get entries(): readonly ChatEntry[] {
    return this.#entries;
  }

  /** How many histories replaced the list (the list reads them out silently). */
  get historyVersion(): number {
    return this.#historyVersion;
  }

  /** Whether a history is due and has not come yet. */
  get isHistoryDue(): boolean {
    return this.#historyDueFrom !== null;
  }

  /** Entering the room: an empty list, and a history is due. */
  reset(): void {
    this.#entries = [];
    this.#historyDueFrom = this.#nextId;
  }

  /** Messages were lost (a `gap`): the server sends a history, due from now. */
  expectHistory(): void {
    this.#historyDueFrom ??= this.#nextId;
  }

  /** Takes a frame of the room; returns whether the list changed. */
  receive(frame: ServerFrame): boolean {
    switch (frame.type) {
      case 'history':
        this.#showHistory(frame.messages);
        return true;
      case 'message':
        if (frame.id !== undefined && this.#isShown(frame.id)) return false;
        this.#append({
          kind: 'message',
          messageId: frame.id,
          from: frame.from,
          text: frame.text,
          at: frame.at,
        });
        return true;
      case 'joined':
      case 'left':
        this.#append({ kind: frame.type, nickname: frame.nickname });
        return true;
      default:
        return false;
    }
  }

  #showHistory(messages: readonly ChatMessage[]): void {
    const from = this.#historyDueFrom;
    const since = from === null ? [] : this.#entries.filter((entry) => entry.id >= from);
    this.#historyDueFrom = null;
    const ids = new Set(messages.flatMap((m) => (m.id === undefined ? [] : [m.id])));
    const inHistory = (entry: ChatEntry): boolean =>
      entry.kind === 'message' && entry.messageId !== undefined && ids.has(entry.messageId);
    const newer = since.slice(since.findLastIndex(inHistory) + 1);
    const history = messages.map(
      (m): ChatEntry => ({
        id: this.#nextId++,
        kind: 'message',
        messageId: m.id,
        from: m.from,
        text: m.text,
        at: m.at,
      }),
    );
    this.#entries = [...history, ...newer].slice(-MAX_ENTRIES);
    this.#historyVersion++;
  }

  #isShown(messageId: string): boolean {
    return this.#entries.some((entry) => entry.kind === 'message' && entry.messageId === messageId);
  }

  #append(entry: DistributiveOmit<ChatEntry, 'id'>): void {
    const entries = [...this.#entries, { ...entry, id: this.#nextId++ } as ChatEntry];
    this.#entries = entries.slice(-MAX_ENTRIES);
  }
}
