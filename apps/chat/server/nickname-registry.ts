import { type Clock, systemClock } from '@gale/io/clock';
import { nicknameKey } from './nickname.js';

/**
 * Who holds which nickname. Nicknames are unique by their key (see `nicknameKey`: case, width
 * and look-alike characters do not count); the owner is an opaque session id. A claim is held for
 * a while (`holdMs`) and lapses unless it is renewed, so a nickname whose browser went away frees
 * itself, on every server process at once and even when the process that would have freed it
 * died. Async so that a shared store (Redis) can implement it for several server processes.
 */
export interface NicknameRegistry {
  /**
   * Claims `nickname` for `owner` for `holdMs` from now (until released, when omitted),
   * atomically: resolves true when it was free (never claimed, released, or its hold lapsed) or
   * already `owner`'s (its hold then starts again), false when someone else holds it. Of
   * concurrent claims of one free nickname by different owners exactly one succeeds. The
   * nickname is registered as given (see `holder`).
   */
  claim(nickname: string, owner: string, holdMs?: number): Promise<boolean>;
  /**
   * Holds `owner`'s claim for `holdMs` from now. Resolves false, changing nothing, when the
   * nickname was released by its owner or belongs to someone else: whoever still uses it under
   * `owner` must stop. (A Redis registry that lost its data,
   * restarted empty, takes the nickname back for `owner` instead.)
   */
  renew(nickname: string, owner: string, holdMs: number): Promise<boolean>;
  /** Frees `nickname` if `owner` holds it; resolves whether it did. */
  release(nickname: string, owner: string): Promise<boolean>;
  /**
   * The nickname as registered by whoever holds `nickname`'s key now (`nickname` itself, in
   * another case or width, or a name that looks like it), or null when nobody does.
   */
  holder(nickname: string): Promise<string | null>;
}

interface Claim {
  readonly owner: string;
  /** The nickname as registered. */
  readonly nickname: string;
  /** The clock's `now()` when the hold lapses; `Infinity` until released. */
  readonly until: number;
}

/** The registry of one process. Lapsed claims are dropped lazily (and in batches). */
export class MemoryNicknameRegistry implements NicknameRegistry {
  readonly #claims = new Map<string, Claim>();
  readonly #clock: Clock;
  #sweepAt = 1024;

  /** `clock` measures the holds: the system clock by default; tests pass one they step. */
  constructor(options: { readonly clock?: Clock | undefined } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  // No await between the check and the set: each call runs to completion, so it is atomic.
  claim(nickname: string, owner: string, holdMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const key = nicknameKey(nickname);
    const now = this.#clock.now();
    const held = this.#claims.get(key);
    if (held !== undefined && held.owner !== owner && held.until > now) {
      return Promise.resolve(false);
    }
    this.#claims.set(key, { owner, nickname, until: now + holdMs });
    this.#sweep(now);
    return Promise.resolve(true);
  }

  renew(nickname: string, owner: string, holdMs: number): Promise<boolean> {
    const key = nicknameKey(nickname);
    // Lapsed but still its own (nobody claimed it since): held again.
    if (this.#claims.get(key)?.owner !== owner) return Promise.resolve(false);
    this.#claims.set(key, { owner, nickname, until: this.#clock.now() + holdMs });
    return Promise.resolve(true);
  }

  release(nickname: string, owner: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    const held = this.#claims.get(key);
    if (held?.owner !== owner) return Promise.resolve(false);
    this.#claims.delete(key);
    return Promise.resolve(held.until > this.#clock.now());
  }

  holder(nickname: string): Promise<string | null> {
    const held = this.#claims.get(nicknameKey(nickname));
    const isHeld = held !== undefined && held.until > this.#clock.now();
    return Promise.resolve(isHeld ? held.nickname : null);
  }

  // Forgets lapsed claims once the map has doubled since the last sweep: amortised O(1) a claim.
  #sweep(now: number): void {
    if (this.#claims.size < this.#sweepAt) return;
    for (const [key, held] of this.#claims) if (held.until <= now) this.#claims.delete(key);
    this.#sweepAt = Math.max(1024, 2 * this.#claims.size);
  }
}
