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

/** What `Presence.beat` found. */
export interface PresenceBeat {
  /** Users to announce as left: those of processes that stopped beating, and overdue leaves. */
  readonly left: readonly string[];
  /**
   * The store did not know this process (it restarted empty, or took it for dead): its
   * connections may be missing, so the room runs a full `refresh` now.
   */
  readonly isForgotten: boolean;
}

/**
 * Who is in the room, counted in connections per nickname, so that several tabs of one user are
 * one presence: joined with the first connection, left with the last — on any server process.
 * Async so that a shared store (Redis) can implement it.
 *
 * Leaving takes two steps, so that a reload is no leave: `leave` of the last connection puts the
 * user in a grace period, and `confirmLeave` (when the grace is over) says whether the user left.
 * A `join` within the grace ends it: the user never left, and did not join either.
 */
export interface Presence {
  /**
   * Adds a connection; resolves true when the user just joined: the nickname's first connection,
   * and not one that came back within a grace period (that one ends it, and resolves false).
   */
  join(nickname: string, connectionId: string): Promise<boolean>;
  /**
   * Removes a connection; resolves true when it was the nickname's last: the user is leaving,
   * for `graceMs`, and `confirmLeave(nickname, connectionId)` then says whether the user left.
   * A connection that is not there (already removed by `leaveAll`) resolves false.
   */
  leave(nickname: string, connectionId: string, graceMs: number): Promise<boolean>;
  /**
   * Ends the grace period that `leave` of `connectionId` started: resolves true (announce "left")
   * if the user is still gone and no later leave or `beat` took it over; false otherwise (a
   * connection came back, or the user left meanwhile by `leaveAll` or another process's sweep).
   */
  confirmLeave(nickname: string, connectionId: string): Promise<boolean>;
  /**
   * Removes every connection of the nickname, and its grace period if any (it logged out);
   * resolves whether the user was present (connected, or within a grace period).
   */
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
  /**
   * Called by every server process on a short timer (every second): the cheap proof that it is
   * alive, for a shared store, which also removes the connections of processes that stopped
   * beating and ends the grace periods that are over (their process died, or could not reach
   * the store when its timer fired). Resolves with the users who left because of it.
   */
  beat(): Promise<PresenceBeat>;
}

/**
 * The presence of one process: always what its connections say, so `refresh` changes nothing,
 * and its own timers end every grace period, so `beat` has nothing to do.
 */
export class MemoryPresence implements Presence {
  readonly #connections = new Map<string, Set<string>>();
  /** Keys within a grace period → the connection whose leave started it. */
  readonly #leaving = new Map<string, string>();

  join(nickname: string, connectionId: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    let set = this.#connections.get(key);
    if (set === undefined) {
      set = new Set();
      this.#connections.set(key, set);
    }
    set.add(connectionId);
    const wasLeaving = this.#leaving.delete(key);
    return Promise.resolve(set.size === 1 && !wasLeaving);
  }

  leave(nickname: string, connectionId: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    const set = this.#connections.get(key);
    if (set === undefined || !set.delete(connectionId)) return Promise.resolve(false);
    if (set.size > 0) return Promise.resolve(false);
    this.#connections.delete(key);
    this.#leaving.set(key, connectionId);
    return Promise.resolve(true);
  }

  confirmLeave(nickname: string, connectionId: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    if (this.#leaving.get(key) !== connectionId) return Promise.resolve(false);
    this.#leaving.delete(key);
    return Promise.resolve(true);
  }

  leaveAll(nickname: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    const wasLeaving = this.#leaving.delete(key);
    return Promise.resolve(this.#connections.delete(key) || wasLeaving);
  }

  count(nickname: string): Promise<number> {
    return Promise.resolve(this.#connections.get(nicknameKey(nickname))?.size ?? 0);
  }

  refresh(): Promise<PresenceChanges> {
    return Promise.resolve({ joined: [], left: [] });
  }

  beat(): Promise<PresenceBeat> {
    return Promise.resolve({ left: [], isForgotten: false });
  }
}
