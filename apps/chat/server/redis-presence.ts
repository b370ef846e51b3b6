import { randomUUID } from 'node:crypto';
import { nicknameKey } from './nickname.js';
import type { Presence, PresenceBeat, PresenceChanges, PresenceEntry } from './presence.js';
import { luaNow, type RedisStore } from './redis-store.js';

// The keys, all under the hash tag T = `{<prefix>presence}` (so one slot on a Redis Cluster), given
// to every script in this order as KEYS[1..6] (no script makes up a key name):
//   T:connections   hash: key → its connections, JSON { connection id: id of the server process
//                   that holds it } (no field once it has none)
//   T:names         hash: key → the nickname as registered (for "left" notices)
//   T:leaving       sorted set: key → when its grace period is over (ms): the user's last
//                   connection closed, and "left" waits for the grace in case one comes back
//   T:leaving-by    hash: key → the connection whose leave started that grace period
//   T:instances     sorted set: server process id → when it counts as dead (ms)
//   T:held          sorted set, every score 0, of `<process id>\n<key>`: the keys a server
//                   process has connections under, read by process with ZRANGEBYLEX
// Every operation is one script, atomic across processes: of two processes whose users' first
// tabs open at once, exactly one sees the count go from 0 to 1; of the process whose timer ends
// a grace period and one whose sweep finds it over, exactly one announces "left". A sweep reads
// which keys a dead process held from data, so they could not be declared up front if each user
// had a key of their own: hence fixed keys, with users as fields.
const KEY_NAMES = ['connections', 'names', 'leaving', 'leaving-by', 'instances', 'held'] as const;

// Lua the scripts start with: the keys, and the helpers on them.
const COMMON = `
local CONNECTIONS, NAMES, LEAVING, LEAVING_BY, INSTANCES, HELD =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- Key k's connections: a table connection id → process id (empty for none).
local function connectionsOf(k)
  local value = redis.call('HGET', CONNECTIONS, k)
  if not value then return {} end
  return cjson.decode(value)
end

local function setConnections(k, connections)
  if next(connections) == nil then
    redis.call('HDEL', CONNECTIONS, k)
  else
    redis.call('HSET', CONNECTIONS, k, cjson.encode(connections))
  end
end

-- Process id has connections under k, or not.
local function hold(id, k) redis.call('ZADD', HELD, 0, id .. '\\n' .. k) end
local function unhold(id, k) redis.call('ZREM', HELD, id .. '\\n' .. k) end

-- The keys process id has connections under.
local function heldBy(id)
  local keys = {}
  for i, member in ipairs(redis.call('ZRANGEBYLEX', HELD, '[' .. id .. '\\n', '(' .. id .. '\\v')) do
    keys[i] = string.sub(member, #id + 2)
  end
  return keys
end

-- Ends key k's grace period, if any; true if there was one.
local function stopLeaving(k)
  redis.call('HDEL', LEAVING_BY, k)
  return redis.call('ZREM', LEAVING, k) == 1
end
`;

// Lua that, given now, takeOver and a list left, removes the connections of the processes that
// stopped beating (dead) and ends the grace periods that have been over for takeOver ms (their
// own process's timer did not: it died, or could not reach Redis), adding to left the users that
// left.
const SWEEP = `
local function forget(k)
  local name = redis.call('HGET', NAMES, k)
  redis.call('HDEL', NAMES, k)
  return name
end

-- Removes process id's connections under k but those in keep; true if that emptied k.
local function prune(id, k, keep)
  local connections = connectionsOf(k)
  local removed = 0
  for conn, holder in pairs(connections) do
    if holder == id and not (keep and keep[conn]) then
      connections[conn] = nil
      removed = removed + 1
    end
  end
  if removed == 0 then return false end
  setConnections(k, connections)
  return next(connections) == nil
end

local function sweep(now, takeOver, left)
  local cutoff = string.format('(%d', now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', INSTANCES, '-inf', cutoff)) do
    for _, k in ipairs(heldBy(id)) do
      if prune(id, k, nil) then
        local name = forget(k)
        if name then left[#left + 1] = name end
      end
    end
    redis.call('ZREMRANGEBYLEX', HELD, '[' .. id .. '\\n', '(' .. id .. '\\v')
    redis.call('ZREM', INSTANCES, id)
  end
  local due = string.format('%d', now - takeOver)
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', LEAVING, '-inf', due)) do
    stopLeaving(k)
    if redis.call('HEXISTS', CONNECTIONS, k) == 0 then
      local name = forget(k)
      if name then left[#left + 1] = name end
    end
  end
end
`;

// ARGV: key, nickname, connection id, process id, dead-after ms, now.
const JOIN = `${luaNow(6)}${COMMON}
local k, conn, me = ARGV[1], ARGV[3], ARGV[4]
local connections = connectionsOf(k)
local before = next(connections) ~= nil
connections[conn] = me
setConnections(k, connections)
redis.call('HSET', NAMES, k, ARGV[2])
hold(me, k)
redis.call('ZADD', INSTANCES, string.format('%d', now + tonumber(ARGV[5])), me)
-- Back within the grace period: the user never left, so did not join either.
local wasLeaving = stopLeaving(k)
if not before and not wasLeaving then return 1 end
return 0
`;

// ARGV: key, connection id, grace ms, now.
const LEAVE = `${luaNow(4)}${COMMON}
local k, conn = ARGV[1], ARGV[2]
local connections = connectionsOf(k)
local holder = connections[conn]
if not holder then return 0 end
connections[conn] = nil
setConnections(k, connections)
local isStillThere = false
for _, v in pairs(connections) do
  if v == holder then isStillThere = true break end
end
if not isStillThere then unhold(holder, k) end
if next(connections) ~= nil then return 0 end
-- The last one: leaving, for the grace period (the name stays, for the "left" notice).
redis.call('ZADD', LEAVING, string.format('%d', now + tonumber(ARGV[3])), k)
redis.call('HSET', LEAVING_BY, k, conn)
return 1
`;

// ARGV: key, connection id.
const CONFIRM_LEAVE = `${COMMON}
local k, conn = ARGV[1], ARGV[2]
if redis.call('HGET', LEAVING_BY, k) ~= conn then return 0 end
stopLeaving(k)
if redis.call('HEXISTS', CONNECTIONS, k) == 1 then return 0 end
redis.call('HDEL', NAMES, k)
return 1
`;

// ARGV: key.
const LEAVE_ALL = `${COMMON}
local k = ARGV[1]
local connections = connectionsOf(k)
local wasLeaving = stopLeaving(k)
if next(connections) == nil and not wasLeaving then return 0 end
for _, v in pairs(connections) do unhold(v, k) end
redis.call('HDEL', CONNECTIONS, k)
redis.call('HDEL', NAMES, k)
return 1
`;

// ARGV: process id, dead-after ms, take-over ms, now, then (key, nickname, connection id) for
// each of its connections. Returns { joined nicknames, left nicknames }.
const REFRESH = `${luaNow(4)}${COMMON}${SWEEP}
local me = ARGV[1]
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

-- This process's connections the store does not have (it restarted empty, or this process was
-- taken for dead), added first so that a user who also lost one is not announced as left...
for k, conns in pairs(want) do
  local connections = connectionsOf(k)
  local before = next(connections) ~= nil
  for conn in pairs(conns) do connections[conn] = me end
  setConnections(k, connections)
  local wasLeaving = stopLeaving(k)
  if not before then
    redis.call('HSET', NAMES, k, wantName[k])
    if not wasLeaving then joined[#joined + 1] = wantName[k] end
  else
    redis.call('HSETNX', NAMES, k, wantName[k])
  end
  hold(me, k)
end
-- ...then the ones it has that closed meanwhile (their leave failed): left at once, since they
-- closed a while ago.
for _, k in ipairs(heldBy(me)) do
  if prune(me, k, want[k]) then
    local name = forget(k)
    if name then left[#left + 1] = name end
  end
  if not want[k] then unhold(me, k) end
end

redis.call('ZADD', INSTANCES, string.format('%d', now + tonumber(ARGV[2])), me)
sweep(now, tonumber(ARGV[3]), left)
return { joined, left }
`;

// ARGV: process id, dead-after ms, take-over ms, now. Returns { left nicknames, 1 if this process
// was not in the instances (forgotten) else 0 }.
const BEAT = `${luaNow(4)}${COMMON}${SWEEP}
local me = ARGV[1]
local left = {}
local added = redis.call('ZADD', INSTANCES, string.format('%d', now + tonumber(ARGV[2])), me)
sweep(now, tonumber(ARGV[3]), left)
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

  async count(nickname: string): Promise<number> {
    const connections = `${this.#store.tagged('presence')}connections`;
    const value = await this.#store.run((redis) => redis.hget(connections, nicknameKey(nickname)));
    return value === null ? 0 : Object.keys(JSON.parse(value) as object).length;
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

  /** The six keys, in the order of KEY_NAMES. */
  get #keys(): string[] {
    const tag = this.#store.tagged('presence');
    return KEY_NAMES.map((name) => `${tag}${name}`);
  }

  #run(script: string, ...args: (string | number)[]): Promise<unknown> {
    return this.#store.evaluate(script, this.#keys, args);
  }
}
