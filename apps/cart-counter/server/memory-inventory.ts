import { type Clock, systemClock, unref } from '@gale/io/clock';
import type {
  CartStatus,
  ChangeCause,
  Inventory,
  InventoryChange,
  ReserveResult,
} from './inventory.js';

/** Options of `MemoryInventory`. */
export interface MemoryInventoryOptions {
  /** Copies on the shelf at start: an integer, 0 or more. */
  readonly stock: number;
  /** How long a reservation lasts, in milliseconds: an integer, 1 or more. */
  readonly reservationTtlMs: number;
  /**
   * Where the expiry timers come from, and, when given, the time `expiresAt` counts from (its
   * `now()` read as milliseconds since the epoch). By default the system's timers and
   * `Date.now()`; tests pass a clock they step.
   */
  readonly clock?: Clock | undefined;
}

interface Reservation {
  readonly expiresAt: number;
  readonly timer: unknown;
}

/**
 * An `Inventory` in this process's memory: one server, state lost on restart.
 *
 * Atomic because no method awaits anything between reading the reservations and changing them:
 * each call runs to completion before another starts, so `reserve` cannot oversell.
 */
export class MemoryInventory implements Inventory {
  readonly #stock: number;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #reservations = new Map<string, Reservation>();
  readonly #listeners = new Set<(change: InventoryChange) => void>();
  #version = 0;

  /** Throws `RangeError` for a stock or TTL that is not a suitable integer. */
  constructor(options: MemoryInventoryOptions) {
    if (!Number.isSafeInteger(options.stock) || options.stock < 0) {
      throw new RangeError(`stock must be an integer >= 0, not ${options.stock}`);
    }
    if (!Number.isSafeInteger(options.reservationTtlMs) || options.reservationTtlMs < 1) {
      throw new RangeError(
        `reservationTtlMs must be an integer >= 1, not ${options.reservationTtlMs}`,
      );
    }
    this.#stock = options.stock;
    this.#ttl = options.reservationTtlMs;
    const { clock } = options;
    this.#clock = clock ?? systemClock;
    this.#now = clock === undefined ? Date.now : () => clock.now();
  }

  async reserve(session: string): Promise<ReserveResult> {
    if (this.#reservations.has(session)) return { ok: true, ...this.#status(session) };
    if (this.#reservations.size >= this.#stock) {
      return { ok: false, reason: 'sold-out', ...this.#status(session) };
    }
    // One timer per reservation; unref'd so that pending expiries never keep the process alive.
    const timer = this.#clock.setTimeout(() => this.#expire(session), this.#ttl);
    unref(timer);
    this.#reservations.set(session, { expiresAt: this.#now() + this.#ttl, timer });
    return { ok: true, ...this.#changed(session, 'reserved') };
  }

  async release(session: string): Promise<CartStatus> {
    const reservation = this.#reservations.get(session);
    if (reservation === undefined) return this.#status(session);
    this.#clock.clearTimeout(reservation.timer);
    this.#reservations.delete(session);
    return this.#changed(session, 'released');
  }

  async status(session: string | null): Promise<CartStatus> {
    return this.#status(session);
  }

  onChange(listener: (change: InventoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const { timer } of this.#reservations.values()) this.#clock.clearTimeout(timer);
    this.#listeners.clear();
  }

  #expire(session: string): void {
    if (!this.#reservations.delete(session)) return;
    this.#changed(session, 'expired');
  }

  #changed(session: string, cause: ChangeCause): CartStatus {
    this.#version += 1;
    const status = this.#status(session);
    const change: InventoryChange = { ...status, session, cause };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        // The change has happened; a broken listener must not undo it or hide it from the others.
        console.error('Inventory change listener failed', error);
      }
    }
    return status;
  }

  #status(session: string | null): CartStatus {
    const reservation = session === null ? undefined : this.#reservations.get(session);
    return {
      inventoryCount: this.#stock - this.#reservations.size,
      version: this.#version,
      inCart: reservation !== undefined,
      expiresAt: reservation?.expiresAt ?? null,
    };
  }
}
