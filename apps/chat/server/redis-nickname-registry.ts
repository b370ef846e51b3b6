import { nicknameKey } from './nickname.js';
import type { NicknameRegistry } from './nickname-registry.js';
import { luaNow, type RedisStore } from './redis-store.js';

// One string key a nickname, `{<prefix>registry}:nickname:<key>`: `<until> owner:<id>\n<nickname>`
// while held (the nickname as registered after the newline, which no nickname contains), `<until>
// released:<id>` for a while after its owner released it, where <until> is when that lapses (ms,
// by the store's clock; empty for a claim held until released). And one a revoked owner,
// `{<prefix>registry}:revoked:<id>`: `<until>`. A lapsed value counts as no value; Redis deletes it
// a minute later (GRACE_MS), which is only tidying. Each operation is one script, given every key
// it touches, so the check and the write are atomic across every server process. A claim reads
// the owner's revocation and writes the nickname: both keys share the hash tag
// `{<prefix>registry}`, so on a Redis Cluster the whole registry is one slot (one primary), which
// a claim racing a logout needs (see the README's "Redis Cluster").

/** How long Redis keeps a lapsed value before it deletes it. */
const GRACE_MS = 60_000;

// ARGV[3] of every script: now (`RedisStore.now()`).
const PRELUDE = `${luaNow(3)}
-- The value of the key if it has not lapsed (else nil), and the nickname it registered ('' if none).
local function current()
  local held = redis.call('GET', KEYS[1])
  if not held then return nil, '' end
  local untilMs, value, name = string.match(held, '^(%d*) ([^\\n]+)\\n?(.*)$')
  if not value then return held, '' end
  if untilMs ~= '' and tonumber(untilMs) <= now then return nil, '' end
  return value, name
end
-- Sets the value for holdMs from now ('' for no end).
local function hold(value, holdMs)
  if holdMs == '' then
    redis.call('SET', KEYS[1], ' ' .. value)
  else
    local ms = tonumber(holdMs)
    redis.call('SET', KEYS[1], string.format('%d', now + ms) .. ' ' .. value, 'PX', ms + ${GRACE_MS})
  end
end
-- Whether the owner in KEYS[2] ('<prefix>revoked:<id>') is revoked now.
local function isRevoked()
  local untilMs = redis.call('GET', KEYS[2])
  return untilMs ~= false and tonumber(untilMs) > now
end
`;

// KEYS[1] the nickname, KEYS[2] the owner's revocation; ARGV[1] the owner, ARGV[2] the hold in ms
// ('' for none), ARGV[4] the nickname as registered.
const CLAIM = `${PRELUDE}
if isRevoked() then return 0 end
local held = current()
local mine = 'owner:' .. ARGV[1]
if held and held ~= mine and string.sub(held, 1, 6) == 'owner:' then return 0 end
hold(mine .. '\\n' .. ARGV[4], ARGV[2])
return 1
`;

// Like CLAIM, but never over a release (the tombstone): only "still mine" or "forgotten".
const RENEW = `${PRELUDE}
if isRevoked() then return 0 end
local held = current()
local mine = 'owner:' .. ARGV[1]
if held and held ~= mine then return 0 end
hold(mine .. '\\n' .. ARGV[4], ARGV[2])
return 1
`;

// ARGV[2]: how long the tombstone stays.
const RELEASE = `${PRELUDE}
if current() ~= 'owner:' .. ARGV[1] then return 0 end
hold('released:' .. ARGV[1], ARGV[2])
return 1
`;

// The nickname as registered, or false.
const HOLDER = `${PRELUDE}
local held, name = current()
if held and string.sub(held, 1, 6) == 'owner:' and name ~= '' then return name end
return false
`;

// KEYS[1] the owner's revocation; ARGV[1] for how long (ms). Never shortens one.
const REVOKE = `${luaNow(2)}
local untilMs = now + tonumber(ARGV[1])
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
if before > untilMs then return 0 end
redis.call('SET', KEYS[1], string.format('%d', untilMs), 'PX', tonumber(ARGV[1]) + ${GRACE_MS})
return 1
`;

// KEYS[1] the owner's revocation.
const IS_REVOKED = `${luaNow(1)}
local untilMs = redis.call('GET', KEYS[1])
if untilMs and tonumber(untilMs) > now then return 1 end
return 0
`;

/**
 * The nickname registry in Redis, shared by every server process. A released nickname is free
 * at once, but remembered as released for `releasedMemoryMs` (10 minutes by default): a
 * process whose tab of that session did not hear of the logout then closes it instead of
 * renewing the claim. A nickname the store forgot (Redis restarted empty) is taken back by the
 * first renewal of its owner's server process — or by whoever claims it first. Revocations are
 * kept as long as they last; a Redis that restarted without its data has forgotten them too.
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
    const keys = [this.#key(nickname), this.#revokedKey(owner)];
    const args = [owner, hold, this.#store.now(), nickname];
    return (await this.#store.evaluate(CLAIM, keys, args)) === 1;
  }

  async renew(nickname: string, owner: string, holdMs: number): Promise<boolean> {
    const keys = [this.#key(nickname), this.#revokedKey(owner)];
    const args = [owner, toMs(holdMs), this.#store.now(), nickname];
    return (await this.#store.evaluate(RENEW, keys, args)) === 1;
  }

  async release(nickname: string, owner: string): Promise<boolean> {
    const args = [owner, toMs(this.#releasedMemoryMs), this.#store.now()];
    return (await this.#store.evaluate(RELEASE, [this.#key(nickname)], args)) === 1;
  }

  async holder(nickname: string): Promise<string | null> {
    // (A claim written before nicknames were kept in the value answers null too.)
    const args = ['', '', this.#store.now()];
    const name = await this.#store.evaluate(HOLDER, [this.#key(nickname)], args);
    return typeof name === 'string' ? name : null;
  }

  async revoke(owner: string, forMs: number): Promise<void> {
    const args = [toMs(forMs), this.#store.now()];
    await this.#store.evaluate(REVOKE, [this.#revokedKey(owner)], args);
  }

  async isRevoked(owner: string): Promise<boolean> {
    const args = [this.#store.now()];
    return (await this.#store.evaluate(IS_REVOKED, [this.#revokedKey(owner)], args)) === 1;
  }

  #key(nickname: string): string {
    return `${this.#store.tagged('registry')}nickname:${nicknameKey(nickname)}`;
  }

  #revokedKey(owner: string): string {
    return `${this.#store.tagged('registry')}revoked:${owner}`;
  }
}

function toMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
