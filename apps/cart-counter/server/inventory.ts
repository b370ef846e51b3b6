/**
 * The stock of the one book Burt's Books sells, and who holds a copy. Every method is async so
 * that a store shared by several server processes (Redis) can implement the same interface; the
 * in-memory one is `MemoryInventory`.
 *
 * Implementations must be atomic: however many `reserve` calls run at once, at most the initial
 * stock succeed, and `inventoryCount` never goes below zero.
 */
export interface Inventory {
  /**
   * Puts one copy in `session`'s cart for the reservation TTL. Holding one already is a success
   * that changes nothing (one copy per session; the TTL is not extended). `{ ok: false }` when
   * no copy is left.
   */
  reserve(session: string): Promise<ReserveResult>;
  /** Puts `session`'s copy back on the shelf; holding none is a success that changes nothing. */
  release(session: string): Promise<CartStatus>;
  /** The stock, and whether `session` (null: nobody in particular) holds a copy. */
  status(session: string | null): Promise<CartStatus>;
  /**
   * Calls `listener` after every change: a reservation, a release, or a reservation that
   * expired. Returns a function that removes it. Listeners must not throw.
   */
  onChange(listener: (change: InventoryChange) => void): () => void;
  /** Stops the expiry timers and drops the listeners. */
  close(): Promise<void>;
}

/** The stock, and one session's cart. */
export interface CartStatus {
  /** Copies left to reserve: from 0 to the initial stock. */
  readonly inventoryCount: number;
  /**
   * Grows with every change, so that a reader who learns the stock by several paths (an HTTP
   * response, WebSocket pushes) can keep the newest.
   */
  readonly version: number;
  /** Whether the session holds a copy. */
  readonly inCart: boolean;
  /** When the session's reservation ends (milliseconds since the epoch), or null. */
  readonly expiresAt: number | null;
}

/** What `reserve` did: `ok` with the session holding a copy, or sold out. */
export type ReserveResult =
  | (CartStatus & { readonly ok: true })
  | (CartStatus & { readonly ok: false; readonly reason: 'sold-out' });

/** Why the stock changed. */
export type ChangeCause = 'reserved' | 'released' | 'expired';

/** One change, as listeners see it: the new status of the session whose cart changed. */
export interface InventoryChange extends CartStatus {
  readonly session: string;
  readonly cause: ChangeCause;
}

/**
 * The shared store behind an `Inventory` cannot be reached (Redis down or restarting). Nothing was
 * changed as far as the caller can tell; the request may be retried. `/cart` answers it with 503.
 */
export class InventoryUnavailableError extends Error {
  constructor(message = 'the inventory store is unavailable', options?: ErrorOptions) {
    super(message, options);
    this.name = 'InventoryUnavailableError';
  }
}
