// The Lua scripts of the Redis store: every write, seed and restore compares tenant revisions inside Redis, so a newer record is never replaced by an older one.
/*
 * Data layout (all under keyPrefix):
 *   <p>tenants    hash id -> tenant JSON (the config shape; absent for a deleted tenant)
 *   <p>revisions  hash id -> revision, an integer that only grows per tenant. A revision without a tenant is a
 *                 tombstone: the tenant was deleted at that revision. A tenant without a revision (data written before
 *                 revisions existed) counts as revision 0.
 *   <p>version    integer, bumped by every write in the same script as the write; its absence means Redis is empty
 *   <p>changes    pub/sub channel, message {"v":version,"id":tenant id or "*"}
 *
 * Every script takes KEYS = tenants, revisions, version.
 */

/** The revision Redis holds for ARGV id: its revision, 0 for a record without one, -1 when Redis knows nothing of it. */
const STORED_REVISION = `
local function stored(id)
  local r = redis.call('HGET', KEYS[2], id)
  if r then return tonumber(r) or 0 end
  if redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
  return -1
end`;

/**
 * Write, bump and announce in one script, so no node can see the new version without the data or miss the message.
 * The revision is one above both what Redis holds and what the writing node knows, so a write made while Redis is
 * behind (it lost data) still outranks the copy other nodes will restore.
 * ARGV: id, json, known revision (-1: none), channel. Returns {version, revision}.
 */
export const PUT_SCRIPT = `${STORED_REVISION}
local rev = math.max(stored(ARGV[1]), tonumber(ARGV[3])) + 1
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], rev)
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], '{"v":' .. v .. ',"id":"' .. ARGV[1] .. '"}')
return {v, rev}`;

/**
 * Deletes by leaving a tombstone (the revision stays, the record goes), so neither a config seed nor a node holding
 * the old record can bring the tenant back. A tenant the node knows but Redis lost is deleted all the same.
 * ARGV: id, known revision (-1: none), '1' if the node holds the record, channel. Returns {0, 0} when there was nothing to delete.
 */
export const DELETE_SCRIPT = `${STORED_REVISION}
local before = stored(ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 and ARGV[3] ~= '1' then return {0, 0} end
local rev = math.max(before, tonumber(ARGV[2])) + 1
redis.call('HSET', KEYS[2], ARGV[1], rev)
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], '{"v":' .. v .. ',"id":"' .. ARGV[1] .. '"}')
return {v, rev}`;

/**
 * Config seeding: revision 0, and only for ids Redis knows nothing of (no record, no tombstone). Also creates the
 * version key when it is missing, so the next node to start sees a store that exists and does not wait for peers.
 * ARGV: channel, then id/json pairs. Returns how many tenants were added.
 */
export const SEED_SCRIPT = `
local added = 0
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 and redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i], 0)
    added = added + 1
  end
end
if added == 0 and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[1], '{"v":' .. v .. ',"id":"*"}')
return added`;

/**
 * Puts back what a node knows after Redis came back empty or behind (restart without persistence, failover to a
 * stale replica): each record or tombstone whose revision is above what Redis holds for that id. Anything written
 * since with a higher revision stays. The version jumps past both Redis's and the node's so every node reloads.
 * ARGV: channel, the node's version, then id/revision/json triples (json '' for a tombstone). Returns the new
 * version, or 0 when Redis already held everything.
 */
export const RESTORE_SCRIPT = `${STORED_REVISION}
local n = 0
for i = 3, #ARGV, 3 do
  local id, rev = ARGV[i], tonumber(ARGV[i + 1])
  if rev > stored(id) then
    if ARGV[i + 2] == '' then redis.call('HDEL', KEYS[1], id) else redis.call('HSET', KEYS[1], id, ARGV[i + 2]) end
    redis.call('HSET', KEYS[2], id, rev)
    n = n + 1
  end
end
if n == 0 then return 0 end
local v = math.max(tonumber(redis.call('GET', KEYS[3]) or '0') or 0, tonumber(ARGV[2])) + 1
redis.call('SET', KEYS[3], v)
redis.call('PUBLISH', ARGV[1], '{"v":' .. v .. ',"id":"*"}')
return v`;
