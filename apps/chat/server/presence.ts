import { nicknameKey } from './nickname.js';

/**
 * Who is in the room, counted in connections per nickname, so that several tabs of one user are
 * one presence: joined with the first connection, left with the last. Async so that a shared store
 * (Redis: a set per nickname, `SADD`/`SREM` then `SCARD`) can implement it.
 */
export interface Presence {
  /** Adds a connection; resolves true when it is the nickname's first (the user just joined). */
  join(nickname: string, connectionId: string): Promise<boolean>;
  /**
   * Removes a connection; resolves true when it was the nickname's last (the user just left).
   * A connection that is not there (already removed by `leaveAll`) resolves false.
   */
  leave(nickname: string, connectionId: string): Promise<boolean>;
  /** Removes every connection of the nickname (it logged out); resolves whether it had any. */
  leaveAll(nickname: string): Promise<boolean>;
  /** How many connections the nickname has open. */
  count(nickname: string): Promise<number>;
}

/** The presence of one process. */
export class MemoryPresence implements Presence {
  readonly #connections = new Map<string, Set<string>>();

  join(nickname: string, connectionId: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    let set = this.#connections.get(key);
    if (set === undefined) {
      set = new Set();
      this.#connections.set(key, set);
    }
    set.add(connectionId);
    return Promise.resolve(set.size === 1);
  }

  leave(nickname: string, connectionId: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    const set = this.#connections.get(key);
    if (set === undefined || !set.delete(connectionId)) return Promise.resolve(false);
    if (set.size > 0) return Promise.resolve(false);
    this.#connections.delete(key);
    return Promise.resolve(true);
  }

  leaveAll(nickname: string): Promise<boolean> {
    return Promise.resolve(this.#connections.delete(nicknameKey(nickname)));
  }

  count(nickname: string): Promise<number> {
    return Promise.resolve(this.#connections.get(nicknameKey(nickname))?.size ?? 0);
  }
}
