import { nicknameKey } from './nickname.js';

/** One open connection of this server process, as `Presence.refresh` is given it. */
export interface PresenceEntry {
  readonly nickname: string;
  readonly connectionId: string;
}

/** Nicknames whose presence `Presence.refresh` changed: to announce as joined and as left. */
export interface PresenceChanges {
  readonly joined: readonly string[];
  readonly left: readonly string[];
}

/**
 * Who is in the room, counted in connections per nickname, so that several tabs of one user are
 * one presence: joined with the first connection, left with the last — on any server process.
 * Async so that a shared store (Redis) can implement it.
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
  /**
   * Called by every server process on a timer (its heartbeat) with all of its open connections.
   * A shared store takes it as proof that the process is alive, makes its entries for this
   * process match `connections` (a `leave` lost while the store was unreachable, a `join` it
   * forgot when it restarted empty), and removes the connections of processes that stopped
   * beating (they died). Resolves with the nicknames that joined or left because of it.
   */
  refresh(connections: readonly PresenceEntry[]): Promise<PresenceChanges>;
}

/** The presence of one process: always what its connections say, so `refresh` changes nothing. */
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

  refresh(): Promise<PresenceChanges> {
    return Promise.resolve({ joined: [], left: [] });
  }
}
