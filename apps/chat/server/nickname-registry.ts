import { nicknameKey } from './nickname.js';

/**
 * Who holds which nickname. Nicknames are unique case-insensitively (see `nicknameKey`); the
 * owner is an opaque session id. Async so that a shared store (Redis: `SET key owner NX`, or a
 * small script for "free or already mine") can implement it for several server processes.
 */
export interface NicknameRegistry {
  /**
   * Claims `nickname` for `owner`, atomically: resolves true when it was free (now `owner`'s) or
   * already `owner`'s, false when someone else holds it. Of concurrent claims of one free
   * nickname by different owners exactly one succeeds.
   */
  claim(nickname: string, owner: string): Promise<boolean>;
  /** Frees `nickname` if `owner` holds it; resolves whether it did. */
  release(nickname: string, owner: string): Promise<boolean>;
}

/** The registry of one process. */
export class MemoryNicknameRegistry implements NicknameRegistry {
  readonly #owners = new Map<string, string>();

  // No await between the check and the set: each call runs to completion, so it is atomic.
  claim(nickname: string, owner: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    const holder = this.#owners.get(key);
    if (holder !== undefined && holder !== owner) return Promise.resolve(false);
    this.#owners.set(key, owner);
    return Promise.resolve(true);
  }

  release(nickname: string, owner: string): Promise<boolean> {
    const key = nicknameKey(nickname);
    if (this.#owners.get(key) !== owner) return Promise.resolve(false);
    this.#owners.delete(key);
    return Promise.resolve(true);
  }
}
