-- Queue a webhook's event task and journal it, once per event: the seen marker and the queue
-- are written in the same step, so of several deliveries of one event exactly one is queued,
-- and an event is never marked seen without being queued.
-- Guard: the event's seen marker is not set (it is set now, for `seen_ttl` s).
-- Effect: queued and journaled, counted as enqueued; or, seen before, counted as a duplicate.
-- Answers: 1 queued; 0 seen before.
-- KEYS: queue, journal, since, seen, metrics
-- ARGV: task_id, message, now, seen_ttl

local queue = KEYS[1]
local journal = KEYS[2]
local since = KEYS[3]
local seen = KEYS[4]
local metrics = KEYS[5]
local task_id = ARGV[1]
local message = ARGV[2]
local now = ARGV[3]
local seen_ttl = ARGV[4]

if not redis.call('SET', seen, '1', 'NX', 'EX', seen_ttl) then
  redis.call('HINCRBY', metrics, 'telnyx_webhooks_duplicate_total', 1)
  return 0
end
redis.call('HSET', journal, task_id, message)
redis.call('ZADD', since, now, task_id)
redis.call('LPUSH', queue, message)
redis.call('HINCRBY', metrics, 'telnyx_webhooks_enqueued_total', 1)
return 1
