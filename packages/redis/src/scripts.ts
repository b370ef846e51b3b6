// The two Lua scripts of RedisBroker. Redis runs a script alone, start to end: the offset a
// publish takes, its stream entry and its publication happen at one point in the topic's history,
// so the topic's channel carries its messages in offset order, and a read's marker (below),
// published to the same channel, falls at exactly one point between them.
//
// Keys of a topic (one hash tag, so that on a Redis Cluster they and the channel share a slot):
//   <base>:m  hash: e = epoch, n = last offset, b = payload bytes in the stream, r = the
//             replication ID of the primary that wrote the epoch
//   <base>:s  stream: entry `<offset>-0`, fields p (payload), k (0 text, 1 binary),
//             t (ms, the publisher's clock), z (payload bytes), x (origin and
//             exclude token, only when the publish excluded a subscriber)
// where <base>, also the channel, is `<prefix>{<topic>}` (see RedisBroker's #base for topics that
// would break the hash tag). Field order matters: the scripts read t and z at fixed places (f[6],
// f[8]).
//
// The epoch (both scripts, EPOCH_LUA): a topic keeps its epoch while the node that runs the script
// has the replication ID the epoch was written under. A primary gets a new one when a replica is
// promoted in its place (failover) or when it restarts; writes the old primary acknowledged may
// then be missing here (replication is asynchronous), so the offsets after the last one that
// arrived could be given again to other messages. A new epoch instead: subscribers are told of a
// gap, never silently skip a message as a duplicate. A hash with no `r` (written by an earlier
// version of the broker) adopts the current ID.

const EPOCH_LUA = `
local replid = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
local current = redis.call('HMGET', meta, 'e', 'r', 'n')
local epoch = current[1]
if epoch and current[2] ~= replid then
  if current[2] then
    epoch = false
  else
    redis.call('HSET', meta, 'r', replid)
  end
end
local n = 0
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 'n', 0, 'b', 0, 'r', replid)
else
  n = tonumber(current[3])
end
`;

/**
 * Publishes one message. KEYS: meta, stream. ARGV: 1 a new epoch (used if the topic has none, or
 * after a failover), 2 channel, 3 header (kind, origin, token: 13 bytes), 4 payload, 5 keep ('1'
 * or '0'), 6 maxCount, 7 maxBytes, 8 maxAge (-1: none), 9 now, 10 meta TTL (-1: none), 11 kind
 * ('0' or '1'), 12 exclude tag ('' for none), 13 the command that publishes (SPUBLISH or
 * PUBLISH). Returns {epoch, offset}.
 *
 * The channel message is the header, then the epoch (a length byte first), the offset as
 * decimal digits (a length byte first), then the payload.
 */
export const PUBLISH_LUA: string = `
local meta, stream = KEYS[1], KEYS[2]
${EPOCH_LUA}
n = redis.call('HINCRBY', meta, 'n', 1)
local ttl = tonumber(ARGV[10])
if ttl >= 0 then redis.call('PEXPIRE', meta, ttl) end
local payload = ARGV[4]
if ARGV[5] == '1' then
  local size = #payload
  local now = tonumber(ARGV[9])
  local bytes = 0
  if redis.call('EXISTS', stream) == 1 then bytes = tonumber(redis.call('HGET', meta, 'b')) or 0 end
  local id = string.format('%d-0', n)
  if ARGV[12] == '' then
    redis.call('XADD', stream, id, 'p', payload, 'k', ARGV[11], 't', ARGV[9], 'z', size)
  else
    redis.call('XADD', stream, id, 'p', payload, 'k', ARGV[11], 't', ARGV[9], 'z', size, 'x', ARGV[12])
  end
  bytes = bytes + size
  local maxCount, maxBytes, maxAge = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local len = redis.call('XLEN', stream)
  -- Drop from the oldest while any limit is passed: the kept entries stay contiguous.
  local cut = nil
  local from = '-'
  local done = false
  -- Usually one entry goes (the count limit): read 2, then more only while more must go.
  local count = 2
  if len - maxCount + 1 > count then count = len - maxCount + 1 end
  while not done do
    local batch = redis.call('XRANGE', stream, from, '+', 'COUNT', count)
    if count < 64 then count = count * 2 end
    if #batch == 0 then break end
    for i = 1, #batch do
      local f = batch[i][2]
      local t, z = tonumber(f[6]), tonumber(f[8])
      if len > maxCount or bytes > maxBytes or (maxAge >= 0 and now - t > maxAge) then
        len = len - 1
        bytes = bytes - z
        cut = batch[i][1]
      else
        done = true
        break
      end
    end
    if not done then from = '(' .. cut end
  end
  if cut then
    local last = tonumber(string.match(cut, '^(%d+)'))
    redis.call('XTRIM', stream, 'MINID', string.format('%d-0', last + 1))
  end
  redis.call('HSET', meta, 'b', bytes)
  if maxAge >= 0 then redis.call('PEXPIRE', stream, maxAge) end
end
local o = string.format('%d', n)
redis.call(ARGV[13], ARGV[2], ARGV[3] .. string.char(#epoch) .. epoch .. string.char(#o) .. o .. payload)
return {epoch, n}
`;

/**
 * Reads where a topic is and what a subscriber missed, then publishes a marker to the topic's
 * channel: on the subscriber connection the marker falls exactly between the messages this read
 * saw and those it did not (the channel is the topic's, so on a Redis Cluster it travels with
 * them, from the same node). KEYS: meta, stream. ARGV: 1 a new epoch (used if the topic has none,
 * or after a failover), 2 the epoch resumed from ('' for none), 3 the offset resumed from, 4 keep
 * ('1' or '0'), 5 the oldest publish time still kept ('' for none), 6 meta TTL (-1: none),
 * 7 channel, 8 marker, 9 the command that publishes (SPUBLISH or PUBLISH). Returns {epoch, head
 * offset, entries}: with a position in the current epoch, the kept entries after it; with one in
 * another epoch, every kept entry; each entry {id, payload, kind, exclude tag or ''}.
 */
export const READ_LUA: string = `
local meta, stream = KEYS[1], KEYS[2]
${EPOCH_LUA}
local ttl = tonumber(ARGV[6])
if ttl >= 0 then redis.call('PEXPIRE', meta, ttl) end
local entries = {}
if ARGV[2] ~= '' and ARGV[4] == '1' then
  local same = ARGV[2] == epoch
  local after = tonumber(ARGV[3])
  if not same or after < n then
    local from = '-'
    if same then from = string.format('%d-0', after + 1) end
    local range = redis.call('XRANGE', stream, from, '+')
    local cutoff = tonumber(ARGV[5])
    local fresh = cutoff == nil
    for i = 1, #range do
      local f = range[i][2]
      if fresh or tonumber(f[6]) >= cutoff then
        fresh = true
        entries[#entries + 1] = {range[i][1], f[2], f[4], f[10] or ''}
      end
    end
  end
end
redis.call(ARGV[9], ARGV[7], ARGV[8])
return {epoch, n, entries}
`;
