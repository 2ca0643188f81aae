-- A task reached its outcome: its message leaves the journal, nothing left to recover.
-- Answers: 1.
-- KEYS: journal, since
-- ARGV: task_id

local journal = KEYS[1]
local since = KEYS[2]
local task_id = ARGV[1]

redis.call('HDEL', journal, task_id)
redis.call('ZREM', since, task_id)
return 1
