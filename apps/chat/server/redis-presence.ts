import { randomUUID } from 'node:crypto';
import { nicknameKey } from './nickname.js';
import type { Presence, PresenceChanges, PresenceEntry } from './presence.js';
import { luaNow, type RedisStore } from './redis-store.js';

// The keys, under the store's prefix p:
//   p..'presence:'..key    hash: connection id → id of the server process that holds it
//   p..'presence-names'    hash: key → the nickname as registered (for "left" notices)
//   p..'instances'         sorted set: server process id → when it counts as dead (ms)
//   p..'instance:'..id     set: the keys a server process has connections under
// Every operation is one script, atomic across processes: of two processes whose users' first
// tabs open at once, exactly one sees the count go from 0 to 1. The scripts compute keys from
// the prefix, so this is for one Redis server (or a primary and its replicas), not Redis Cluster.

// ARGV: prefix, key, nickname, connection id, process id, dead-after ms, now.
const JOIN = `${luaNow(7)}
local p, k, conn, me = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local h = p .. 'presence:' .. k
local before = redis.call('HLEN', h)
redis.call('HSET', h, conn, me)
redis.call('HSET', p .. 'presence-names', k, ARGV[3])
redis.call('SADD', p .. 'instance:' .. me, k)
redis.call('ZADD', p .. 'instances', string.format('%d', now + tonumber(ARGV[6])), me)
if before == 0 then return 1 end
return 0
`;

// ARGV: prefix, key, connection id.
const LEAVE = `
local p, k, conn = ARGV[1], ARGV[2], ARGV[3]
local h = p .. 'presence:' .. k
local holder = redis.call('HGET', h, conn)
if not holder then return 0 end
redis.call('HDEL', h, conn)
local rest = redis.call('HVALS', h)
local isStillThere = false
for _, v in ipairs(rest) do
  if v == holder then isStillThere = true break end
end
if not isStillThere then redis.call('SREM', p .. 'instance:' .. holder, k) end
if #rest > 0 then return 0 end
redis.call('HDEL', p .. 'presence-names', k)
return 1
`;

// ARGV: prefix, key.
const LEAVE_ALL = `
local p, k = ARGV[1], ARGV[2]
local h = p .. 'presence:' .. k
local holders = redis.call('HVALS', h)
if #holders == 0 then return 0 end
for _, v in ipairs(holders) do redis.call('SREM', p .. 'instance:' .. v, k) end
redis.call('DEL', h)
redis.call('HDEL', p .. 'presence-names', k)
return 1
`;

// ARGV: prefix, process id, dead-after ms, now, then (key, nickname, connection id) for each of
// its connections. Returns { joined nicknames, left nicknames }.
const REFRESH = `${luaNow(4)}
local p, me = ARGV[1], ARGV[2]
local names = p .. 'presence-names'
local mine = p .. 'instance:' .. me
local joined, left = {}, {}
local want, wantName = {}, {}
for i = 5, #ARGV, 3 do
  local k = ARGV[i]
  if not want[k] then
    want[k] = {}
    wantName[k] = ARGV[i + 1]
  end
  want[k][ARGV[i + 2]] = true
end

-- Removes process id's connections under k but those in keep; "left" if that emptied k.
local function prune(id, k, keep)
  local h = p .. 'presence:' .. k
  local fields = redis.call('HGETALL', h)
  local removed = 0
  for j = 1, #fields, 2 do
    if fields[j + 1] == id and not (keep and keep[fields[j]]) then
      redis.call('HDEL', h, fields[j])
      removed = removed + 1
    end
  end
  if removed > 0 and redis.call('EXISTS', h) == 0 then
    local name = redis.call('HGET', names, k)
    redis.call('HDEL', names, k)
    if name then left[#left + 1] = name end
  end
end

-- This process's connections the store does not have (it restarted empty, or this process was
-- taken for dead), added first so that a user who also lost one is not announced as left...
for k, conns in pairs(want) do
  local h = p .. 'presence:' .. k
  local before = redis.call('HLEN', h)
  for conn in pairs(conns) do redis.call('HSET', h, conn, me) end
  if before == 0 then
    redis.call('HSET', names, k, wantName[k])
    joined[#joined + 1] = wantName[k]
  else
    redis.call('HSETNX', names, k, wantName[k])
  end
  redis.call('SADD', mine, k)
end
-- ...then the ones it has that closed meanwhile (their leave failed).
for _, k in ipairs(redis.call('SMEMBERS', mine)) do
  prune(me, k, want[k])
  if not want[k] then redis.call('SREM', mine, k) end
end

local instances = p .. 'instances'
redis.call('ZADD', instances, string.format('%d', now + tonumber(ARGV[3])), me)
-- The processes that stopped beating: their connections are gone.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', instances, '-inf', string.format('(%d', now))) do
  local theirs = p .. 'instance:' .. id
  for _, k in ipairs(redis.call('SMEMBERS', theirs)) do prune(id, k, nil) end
  redis.call('DEL', theirs)
  redis.call('ZREM', instances, id)
end
return { joined, left }
`;

/**
 * Presence in Redis, shared by every server process: connections per nickname, each marked with
 * the process that holds it. Each process proves it is alive with `refresh` (the room's
 * heartbeat); one that has not for `deadAfterMs` is taken for dead, and the next `refresh` of
 * any other process removes its connections and reports the users that left with them.
 */
export class RedisPresence implements Presence {
  /** This server process, as presence knows it (random, new at each start). */
  readonly instanceId: string = randomUUID();
  readonly #store: RedisStore;
  readonly #deadAfterMs: number;

  constructor(store: RedisStore, options: { deadAfterMs?: number } = {}) {
    this.#store = store;
    this.#deadAfterMs = options.deadAfterMs ?? 15_000;
  }

  async join(nickname: string, connectionId: string): Promise<boolean> {
    const args = [nicknameKey(nickname), nickname, connectionId, this.instanceId];
    const deadAfter = Math.ceil(this.#deadAfterMs);
    return (await this.#run(JOIN, ...args, deadAfter, this.#store.now())) === 1;
  }

  async leave(nickname: string, connectionId: string): Promise<boolean> {
    return (await this.#run(LEAVE, nicknameKey(nickname), connectionId)) === 1;
  }

  async leaveAll(nickname: string): Promise<boolean> {
    return (await this.#run(LEAVE_ALL, nicknameKey(nickname))) === 1;
  }

  count(nickname: string): Promise<number> {
    const key = `${this.#store.prefix}presence:${nicknameKey(nickname)}`;
    return this.#store.run((redis) => redis.hlen(key));
  }

  async refresh(connections: readonly PresenceEntry[]): Promise<PresenceChanges> {
    const args = connections.flatMap((c) => [nicknameKey(c.nickname), c.nickname, c.connectionId]);
    const deadAfter = Math.ceil(this.#deadAfterMs);
    const reply = await this.#run(REFRESH, this.instanceId, deadAfter, this.#store.now(), ...args);
    const [joined, left] = reply as [string[], string[]];
    return { joined, left };
  }

  #run(script: string, ...args: (string | number)[]): Promise<unknown> {
    return this.#store.evaluate(script, [], [this.#store.prefix, ...args]);
  }
}
