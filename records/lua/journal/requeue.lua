-- Queue a journaled message again (the sweeper's, for one found nowhere else), pending from
-- `now`.
-- Guard: the message is still in the journal.
-- Answers: 1 queued; 0 not journaled any more (its task completed meanwhile).
-- KEYS: queue, journal, since
-- ARGV: task_id, now

local queue = KEYS[1]
local journal = KEYS[2]
local since = KEYS[3]
local task_id = ARGV[1]
local now = ARGV[2]

local message = redis.call('HGET', journal, task_id)
if not message then return 0 end
redis.call('ZADD', since, now, task_id)
redis.call('LPUSH', queue, message)
return 1
