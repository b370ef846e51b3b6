import { randomUUID } from 'node:crypto';
import { nicknameKey } from './nickname.js';
import type { Presence, PresenceBeat, PresenceChanges, PresenceEntry } from './presence.js';
import { luaNow, type RedisStore } from './redis-store.js';

// The keys, under the store's prefix p:
//   p..'presence:'..key    hash: connection id → id of the server process that holds it
//   p..'presence-names'    hash: key → the nickname as registered (for "left" notices)
//   p..'leaving'           sorted set: key → when its grace period is over (ms): the user's last
//                          connection closed, and "left" waits for the grace in case one comes back
//   p..'leaving-by'        hash: key → the connection whose leave started that grace period
//   p..'instances'         sorted set: server process id → when it counts as dead (ms)
//   p..'instance:'..id     set: the keys a server process has connections under
// Every operation is one script, atomic across processes: of two processes whose users' first
// tabs open at once, exactly one sees the count go from 0 to 1; of the process whose timer ends
// a grace period and one whose sweep finds it over, exactly one announces "left". The scripts
// compute keys from the prefix, so this is for one Redis server (or a primary and its replicas),
// not Redis Cluster.

// Lua that ends key k's grace period, if any; true if there was one.
const STOP_LEAVING = `
local function stopLeaving(p, k)
  redis.call('HDEL', p .. 'leaving-by', k)
  return redis.call('ZREM', p .. 'leaving', k) == 1
end
`;

// Lua that, given p, now, takeOver and a list left, removes the connections of the processes
// that stopped beating (dead) and ends the grace periods that have been over for takeOver ms
// (their own process's timer did not: it died, or could not reach Redis), adding to left the
// users that left.
const SWEEP = `
local function forget(p, k)
  local name = redis.call('HGET', p .. 'presence-names', k)
  redis.call('HDEL', p .. 'presence-names', k)
  return name
end

-- Removes process id's connections under k but those in keep; true if that emptied k.
local function prune(p, id, k, keep)
  local h = p .. 'presence:' .. k
  local fields = redis.call('HGETALL', h)
  local removed = 0
  for j = 1, #fields, 2 do
    if fields[j + 1] == id and not (keep and keep[fields[j]]) then
      redis.call('HDEL', h, fields[j])
      removed = removed + 1
    end
  end
  return removed > 0 and redis.call('EXISTS', h) == 0
end

local function sweep(p, now, takeOver, left)
  local instances = p .. 'instances'
  local cutoff = string.format('(%d', now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', instances, '-inf', cutoff)) do
    local theirs = p .. 'instance:' .. id
    for _, k in ipairs(redis.call('SMEMBERS', theirs)) do
      if prune(p, id, k, nil) then
        local name = forget(p, k)
        if name then left[#left + 1] = name end
      end
    end
    redis.call('DEL', theirs)
    redis.call('ZREM', instances, id)
  end
  local due = string.format('%d', now - takeOver)
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leaving', '-inf', due)) do
    stopLeaving(p, k)
    if redis.call('EXISTS', p .. 'presence:' .. k) == 0 then
      local name = forget(p, k)
      if name then left[#left + 1] = name end
    end
  end
end
`;

// ARGV: prefix, key, nickname, connection id, process id, dead-after ms, now.
const JOIN = `${luaNow(7)}${STOP_LEAVING}
local p, k, conn, me = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local h = p .. 'presence:' .. k
local before = redis.call('HLEN', h)
redis.call('HSET', h, conn, me)
redis.call('HSET', p .. 'presence-names', k, ARGV[3])
redis.call('SADD', p .. 'instance:' .. me, k)
redis.call('ZADD', p .. 'instances', string.format('%d', now + tonumber(ARGV[6])), me)
-- Back within the grace period: the user never left, so did not join either.
local wasLeaving = stopLeaving(p, k)
if before == 0 and not wasLeaving then return 1 end
return 0
`;

// ARGV: prefix, key, connection id, grace ms, now.
const LEAVE = `${luaNow(5)}
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
-- The last one: leaving, for the grace period (the name stays, for the "left" notice).
redis.call('ZADD', p .. 'leaving', string.format('%d', now + tonumber(ARGV[4])), k)
redis.call('HSET', p .. 'leaving-by', k, conn)
return 1
`;

// ARGV: prefix, key, connection id.
const CONFIRM_LEAVE = `${STOP_LEAVING}
local p, k, conn = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', p .. 'leaving-by', k) ~= conn then return 0 end
stopLeaving(p, k)
if redis.call('EXISTS', p .. 'presence:' .. k) == 1 then return 0 end
redis.call('HDEL', p .. 'presence-names', k)
return 1
`;

// ARGV: prefix, key.
const LEAVE_ALL = `${STOP_LEAVING}
local p, k = ARGV[1], ARGV[2]
local h = p .. 'presence:' .. k
local holders = redis.call('HVALS', h)
local wasLeaving = stopLeaving(p, k)
if #holders == 0 and not wasLeaving then return 0 end
for _, v in ipairs(holders) do redis.call('SREM', p .. 'instance:' .. v, k) end
redis.call('DEL', h)
redis.call('HDEL', p .. 'presence-names', k)
return 1
`;

// ARGV: prefix, process id, dead-after ms, take-over ms, now, then (key, nickname, connection id)
// for each of its connections. Returns { joined nicknames, left nicknames }.
const REFRESH = `${luaNow(5)}${STOP_LEAVING}${SWEEP}
local p, me = ARGV[1], ARGV[2]
local names = p .. 'presence-names'
local mine = p .. 'instance:' .. me
local joined, left = {}, {}
local want, wantName = {}, {}
for i = 6, #ARGV, 3 do
  local k = ARGV[i]
  if not want[k] then
    want[k] = {}
    wantName[k] = ARGV[i + 1]
  end
  want[k][ARGV[i + 2]] = true
end

-- This process's connections the store does not have (it restarted empty, or this process was
-- taken for dead), added first so that a user who also lost one is not announced as left...
for k, conns in pairs(want) do
  local h = p .. 'presence:' .. k
  local before = redis.call('HLEN', h)
  for conn in pairs(conns) do redis.call('HSET', h, conn, me) end
  local wasLeaving = stopLeaving(p, k)
  if before == 0 then
    redis.call('HSET', names, k, wantName[k])
    if not wasLeaving then joined[#joined + 1] = wantName[k] end
  else
    redis.call('HSETNX', names, k, wantName[k])
  end
  redis.call('SADD', mine, k)
end
-- ...then the ones it has that closed meanwhile (their leave failed): left at once, since they
-- closed a while ago.
for _, k in ipairs(redis.call('SMEMBERS', mine)) do
  if prune(p, me, k, want[k]) then
    local name = forget(p, k)
    if name then left[#left + 1] = name end
  end
  if not want[k] then redis.call('SREM', mine, k) end
end

redis.call('ZADD', p .. 'instances', string.format('%d', now + tonumber(ARGV[3])), me)
sweep(p, now, tonumber(ARGV[4]), left)
return { joined, left }
`;

// ARGV: prefix, process id, dead-after ms, take-over ms, now. Returns { left nicknames, 1 if this
// process was not in the instances (forgotten) else 0 }.
const BEAT = `${luaNow(5)}${STOP_LEAVING}${SWEEP}
local p, me = ARGV[1], ARGV[2]
local left = {}
local added = redis.call('ZADD', p .. 'instances', string.format('%d', now + tonumber(ARGV[3])), me)
sweep(p, now, tonumber(ARGV[4]), left)
return { left, added }
`;

/** Options of `RedisPresence`. */
export interface RedisPresenceOptions {
  /**
   * Milliseconds after its last `beat` (or `join`, `refresh`) when a server process counts as
   * dead: the next `beat` or `refresh` of any other process then removes its connections and
   * reports the users who left with them. More than the interval of `beat` (three of them, so
   * that a late beat is no death). 3,000 by default.
   */
  readonly deadAfterMs?: number | undefined;
  /**
   * Milliseconds after the end of a grace period (see `Presence.leave`) when the next `beat` or
   * `refresh` of any process ends it, if the process that started it did not (it died, or could
   * not reach Redis when its timer fired): that process's own timer, on time, goes first, and
   * holds the nickname again as it announces "left". 1,000 by default (one beat).
   */
  readonly takeOverAfterMs?: number | undefined;
}

/**
 * Presence in Redis, shared by every server process: connections per nickname, each marked with
 * the process that holds it. Each process proves it is alive with `beat` (every second) and
 * `refresh` (the room's heartbeat); one that has not for `deadAfterMs` is taken for dead, and the
 * next `beat` of any other process removes its connections and reports the users that left with
 * them. A grace period (see `Presence.leave`) is in the store too, so a user who comes back on
 * another process ends it there, and one whose process died is ended by another's `beat`
 * (`takeOverAfterMs` after it was over).
 */
export class RedisPresence implements Presence {
  /** This server process, as presence knows it (random, new at each start). */
  readonly instanceId: string = randomUUID();
  readonly #store: RedisStore;
  readonly #deadAfterMs: number;
  readonly #takeOverAfterMs: number;

  constructor(store: RedisStore, options: RedisPresenceOptions = {}) {
    this.#store = store;
    this.#deadAfterMs = Math.ceil(options.deadAfterMs ?? 3000);
    this.#takeOverAfterMs = Math.max(0, Math.ceil(options.takeOverAfterMs ?? 1000));
  }

  async join(nickname: string, connectionId: string): Promise<boolean> {
    const args = [nicknameKey(nickname), nickname, connectionId, this.instanceId];
    return (await this.#run(JOIN, ...args, this.#deadAfterMs, this.#store.now())) === 1;
  }

  async leave(nickname: string, connectionId: string, graceMs: number): Promise<boolean> {
    const args = [nicknameKey(nickname), connectionId, Math.max(0, Math.ceil(graceMs))];
    return (await this.#run(LEAVE, ...args, this.#store.now())) === 1;
  }

  async confirmLeave(nickname: string, connectionId: string): Promise<boolean> {
    return (await this.#run(CONFIRM_LEAVE, nicknameKey(nickname), connectionId)) === 1;
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
    const timings = [this.#deadAfterMs, this.#takeOverAfterMs, this.#store.now()];
    const reply = await this.#run(REFRESH, this.instanceId, ...timings, ...args);
    const [joined, left] = reply as [string[], string[]];
    return { joined, left };
  }

  async beat(): Promise<PresenceBeat> {
    const timings = [this.#deadAfterMs, this.#takeOverAfterMs, this.#store.now()];
    const reply = await this.#run(BEAT, this.instanceId, ...timings);
    const [left, added] = reply as [string[], number];
    return { left, isForgotten: added === 1 };
  }

  #run(script: string, ...args: (string | number)[]): Promise<unknown> {
    return this.#store.evaluate(script, [], [this.#store.prefix, ...args]);
  }
}
