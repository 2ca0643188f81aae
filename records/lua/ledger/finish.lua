-- An action is done, its task complete in the journal, and counted, in one step: the done
-- record (for `done_ttl` s), the claim given up, the task's message out of the journal, the
-- latency added to `latency_sum_field` ('' none) and each of `counters` incremented.
-- Answers: 1.
-- KEYS: done, claim, journal, since, metrics
-- ARGV: done_ttl, task_id, latency_sum_field, latency, counters...
--! include lib/args.lua

local done = KEYS[1]
local claim = KEYS[2]
local journal = KEYS[3]
local since = KEYS[4]
local metrics = KEYS[5]
local done_ttl = ARGV[1]
local task_id = ARGV[2]
local latency_sum_field = ARGV[3]
local latency = ARGV[4]
local counters = tail(ARGV, 5)

redis.call('SET', done, '1', 'EX', done_ttl)
redis.call('DEL', claim)
redis.call('HDEL', journal, task_id)
redis.call('ZREM', since, task_id)
if latency_sum_field ~= '' then redis.call('HINCRBYFLOAT', metrics, latency_sum_field, latency) end
for _, counter in ipairs(counters) do redis.call('HINCRBY', metrics, counter, 1) end
return 1
