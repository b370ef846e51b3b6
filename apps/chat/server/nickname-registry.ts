import { type Clock, systemClock } from '@gale/io/clock';
import { nicknameKey } from './nickname.js';

/**
 * Who holds which nickname. Nicknames are unique by their key (see `nicknameKey`: case, width
 * and look-alike characters do not count); the owner is an opaque session id. A claim is held for
 * a while (`holdMs`) and lapses unless it is renewed, so a nickname whose browser went away frees
 * itself, on every server process at once and even when the process that would have freed it
 * died. An owner can be revoked (its session logged out): it then claims and renews nothing. Async
 * so that a shared store (Redis) can implement it for several server processes.
 */
export interface NicknameRegistry {
  /**
   * Claims `nickname` for `owner` for `holdMs` from now (until released, when omitted),
   * atomically: resolves true when it was free (never claimed, released, or its hold lapsed) or
   * already `owner`'s (its hold then starts again), false when someone else holds it or `owner`
   * is revoked. Of concurrent claims of one free nickname by different owners exactly one
   * succeeds. The nickname is registered as given (see `holder`).
   */
  claim(nickname: string, owner: string, holdMs?: number): Promise<boolean>;
  /**
   * Holds `owner`'s claim for `holdMs` from now. Resolves false, changing nothing, when the
   * nickname was released by its owner or belongs to someone else, or `owner` is revoked:
   * whoever still uses it under `owner` must stop. (A Redis registry that lost its data,
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
  /**
   * Revokes `owner` for `forMs` from now: until then it claims and renews nothing, whatever is
   * free. (What it holds is not released: `release` does that.) For a session that logged out,
   * whose saved cookie must not sign anyone in again.
   */
  revoke(owner: string, forMs: number): Promise<void>;
  /** Whether `owner` is revoked now (and that has not lapsed). */
  isRevoked(owner: string): Promise<boolean>;
}

interface Claim {
  readonly owner: string;
  /** The nickname as registered. */
  readonly nickname: string;
  /** The clock's `now()` when the hold lapses; `Infinity` until released. */
  readonly until: number;
}

/** The registry of one process. Lapsed claims and revocations are dropped lazily (in batches). */
export class MemoryNicknameRegistry implements NicknameRegistry {
  readonly #claims = new Map<string, Claim>();
  /** Revoked owners: the clock's `now()` when each revocation lapses. */
  readonly #revoked = new Map<string, number>();
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
    if (this.#isRevoked(owner, now)) return Promise.resolve(false);
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
    const now = this.#clock.now();
    // Lapsed but still its own (nobody claimed it since): held again.
    if (this.#claims.get(key)?.owner !== owner || this.#isRevoked(owner, now)) {
      return Promise.resolve(false);
    }
    this.#claims.set(key, { owner, nickname, until: now + holdMs });
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

  revoke(owner: string, forMs: number): Promise<void> {
    const now = this.#clock.now();
    this.#revoked.set(owner, Math.max(this.#revoked.get(owner) ?? 0, now + forMs));
    this.#sweep(now);
    return Promise.resolve();
  }

  isRevoked(owner: string): Promise<boolean> {
    return Promise.resolve(this.#isRevoked(owner, this.#clock.now()));
  }

  #isRevoked(owner: string, now: number): boolean {
    return (this.#revoked.get(owner) ?? Number.NEGATIVE_INFINITY) > now;
  }

  // Forgets lapsed claims and revocations once the two maps have doubled since the last sweep:
  // amortised O(1) a claim or revocation.
  #sweep(now: number): void {
    if (this.#claims.size + this.#revoked.size < this.#sweepAt) return;
    for (const [key, held] of this.#claims) if (held.until <= now) this.#claims.delete(key);
    for (const [owner, until] of this.#revoked) if (until <= now) this.#revoked.delete(owner);
    this.#sweepAt = Math.max(1024, 2 * (this.#claims.size + this.#revoked.size));
  }
}
