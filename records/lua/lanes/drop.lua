-- Drop waiting items unsent (`members`, their `action_ids`): out of the queue and the items
-- hash, each recorded done (lib/once.lua) for `done_ttl` s so that no redelivery adds it back
-- ('moot'; or 'dead' for one given up on with its dead letter, `dead_letters`, '' for none:
-- stored under its action id at `failed_at`), and each of `counters` incremented in the metrics
-- hash.
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`), and every
-- member is still waiting. Otherwise nothing changes.
-- Answers: 1 dropped (the lease renewed); 0 not (the guard failed).
-- KEYS: state, q, items, metrics, lease, letters, letter_index, timeline, done_keys...
-- ARGV: drain_id, owner, lease_ms, done_ttl, failed_at, note, timeline_cap, timeline_ttl,
--       members..., action_ids..., dead_letters...,
--       counters...
-- (done_keys, members, action_ids and dead_letters: one each per item, in the same order.)
--! include lib/args.lua
--! include lib/fence.lua
--! include lib/timeline.lua
--! include lib/once.lua

local state = KEYS[1]
local q = KEYS[2]
local items = KEYS[3]
local metrics = KEYS[4]
local lease = KEYS[5]
local letters = KEYS[6]
local letter_index = KEYS[7]
local timeline = KEYS[8]
local done_keys = tail(KEYS, 9)
local drain_id = ARGV[1]
local owner = ARGV[2]
local lease_ms = ARGV[3]
local done_ttl = ARGV[4]
local failed_at = ARGV[5]
local note = ARGV[6]
local timeline_cap = ARGV[7]
local timeline_ttl = ARGV[8]
local members, action_ids, dead_letters, counters = lists(ARGV, 9, 4)

if not holds_lane(state, lease, drain_id, owner) then
  return 0
end
for _, member in ipairs(members) do
  if not redis.call('ZSCORE', q, member) then return 0 end
end
redis.call('PEXPIRE', lease, lease_ms)
for i, member in ipairs(members) do
  redis.call('ZREM', q, member)
  redis.call('HDEL', items, action_ids[i])
  if dead_letters[i] ~= '' then
    record(state, done_keys[i], 'dead', done_ttl)
    redis.call('HSET', letters, action_ids[i], dead_letters[i])
    redis.call('ZADD', letter_index, failed_at, action_ids[i])
  else
    record(state, done_keys[i], 'moot', done_ttl)
  end
end
for _, counter in ipairs(counters) do redis.call('HINCRBY', metrics, counter, 1) end
timeline_note(timeline, note, timeline_cap, timeline_ttl)
return 1
