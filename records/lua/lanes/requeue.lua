-- Queue a drain's message again, due when the lease another run holds ends: a copy of a
-- drain that found another run holding the lane, so that a holder that dies is taken over
-- then, not at the journal's sweep.
-- Guard: `drain_id` is the lane's drain, and the lease is held.
-- Answers: 'stale': not the lane's drain any more (its message is complete now); 'free': the
-- lease has just ended (nothing changed: take the lane again); 'queued': the message is journaled,
-- due at `due` (epoch s), and queued.
-- KEYS: state, lease, queue, journal, since
-- ARGV: drain_id, drain_message, due

local state = KEYS[1]
local lease = KEYS[2]
local queue = KEYS[3]
local journal = KEYS[4]
local since = KEYS[5]
local drain_id = ARGV[1]
local drain_message = ARGV[2]
local due = ARGV[3]

if redis.call('HGET', state, 'drain') ~= drain_id then
  redis.call('HDEL', journal, drain_id)
  redis.call('ZREM', since, drain_id)
  return 'stale'
end
if redis.call('EXISTS', lease) == 0 then return 'free' end
redis.call('HSET', journal, drain_id, drain_message)
redis.call('ZADD', since, due, drain_id)
redis.call('LPUSH', queue, drain_message)
return 'queued'
