-- Queue a task message and journal it, in one step.
-- Answers: 1.
-- KEYS: queue, journal, since
-- ARGV: task_id, message, now

local queue = KEYS[1]
local journal = KEYS[2]
local since = KEYS[3]
local task_id = ARGV[1]
local message = ARGV[2]
local now = ARGV[3]

redis.call('HSET', journal, task_id, message)
redis.call('ZADD', since, now, task_id)
redis.call('LPUSH', queue, message)
return 1
