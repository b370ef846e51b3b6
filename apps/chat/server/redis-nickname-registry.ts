import { nicknameKey } from './nickname.js';
import type { NicknameRegistry } from './nickname-registry.js';
import type { RedisStore } from './redis-store.js';

// One string key a nickname, `<prefix>nickname:<key>`: `owner:<id>` while held (expiring with the
// hold), `released:<id>` for a while after its owner released it. Each operation is one script,
// so the check and the write are atomic across every server process.

// KEYS[1] the nickname; ARGV[1] the owner, ARGV[2] the hold in ms ('' for none).
const CLAIM = `
local held = redis.call('GET', KEYS[1])
local mine = 'owner:' .. ARGV[1]
if held and held ~= mine and string.sub(held, 1, 6) == 'owner:' then return 0 end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], mine)
else
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
end
return 1
`;

// Like CLAIM, but never over a release (the tombstone): only "still mine" or "forgotten".
const RENEW = `
local held = redis.call('GET', KEYS[1])
local mine = 'owner:' .. ARGV[1]
if held and held ~= mine then return 0 end
redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
return 1
`;

// ARGV[2]: how long the tombstone stays.
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= 'owner:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'released:' .. ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * The nickname registry in Redis, shared by every server process. A released nickname is free
 * at once, but remembered as released for `releasedMemoryMs` (10 minutes by default): a
 * process whose tab of that session did not hear of the logout then closes it instead of
 * renewing the claim. A nickname the store forgot (Redis restarted empty) is taken back by the
 * first renewal of its owner's server process — or by whoever claims it first.
 */
export class RedisNicknameRegistry implements NicknameRegistry {
  readonly #store: RedisStore;
  readonly #releasedMemoryMs: number;

  constructor(store: RedisStore, options: { releasedMemoryMs?: number } = {}) {
    this.#store = store;
    this.#releasedMemoryMs = options.releasedMemoryMs ?? 600_000;
  }

  async claim(nickname: string, owner: string, holdMs?: number): Promise<boolean> {
    const hold = holdMs === undefined || !Number.isFinite(holdMs) ? '' : toMs(holdMs);
    return (await this.#store.evaluate(CLAIM, [this.#key(nickname)], [owner, hold])) === 1;
  }

  async renew(nickname: string, owner: string, holdMs: number): Promise<boolean> {
    return (await this.#store.evaluate(RENEW, [this.#key(nickname)], [owner, toMs(holdMs)])) === 1;
  }

  async release(nickname: string, owner: string): Promise<boolean> {
    const args = [owner, toMs(this.#releasedMemoryMs)];
    return (await this.#store.evaluate(RELEASE, [this.#key(nickname)], args)) === 1;
  }

  #key(nickname: string): string {
    return `${this.#store.prefix}nickname:${nicknameKey(nickname)}`;
  }
}

function toMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
