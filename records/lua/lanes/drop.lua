-- Drop waiting items unsent (`members`, their `action_ids`): out of the queue and the items
-- hash, each recorded done ('moot', for `done_ttl` s) so that no redelivery adds it back,
-- and each of `counters` incremented in the metrics hash.
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`), and every
-- member is still waiting. Otherwise nothing changes.
-- Answers: 1 dropped (the lease renewed); 0 not (the guard failed).
-- KEYS: state, q, items, metrics, lease, done_keys...
-- ARGV: drain_id, owner, lease_ms, done_ttl, members..., action_ids..., counters...
-- (done_keys, members and action_ids: one each per item, in the same order.)
--! include lib/args.lua

local state = KEYS[1]
local q = KEYS[2]
local items = KEYS[3]
local metrics = KEYS[4]
local lease = KEYS[5]
local done_keys = tail(KEYS, 6)
local drain_id = ARGV[1]
local owner = ARGV[2]
local lease_ms = ARGV[3]
local done_ttl = ARGV[4]
local members, action_ids, counters = lists(ARGV, 5, 3)

if redis.call('GET', lease) ~= owner or redis.call('HGET', state, 'drain') ~= drain_id then
  return 0
end
for _, member in ipairs(members) do
  if not redis.call('ZSCORE', q, member) then return 0 end
end
redis.call('PEXPIRE', lease, lease_ms)
for i, member in ipairs(members) do
  redis.call('ZREM', q, member)
  redis.call('HDEL', items, action_ids[i])
  redis.call('SET', done_keys[i], 'moot', 'EX', done_ttl)
end
for _, counter in ipairs(counters) do redis.call('HINCRBY', metrics, counter, 1) end
return 1
