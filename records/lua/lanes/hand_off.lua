-- Hand the lane off at the end of a drain's run: the drain's own message is complete, its
-- lease given up, and the lane goes idle (nothing waits, nothing in flight: its hash written
-- anew, small, lib/once.lua's compact), or to the next
-- drain, `successor_id`, whose message is journaled and queued, due at `due` (epoch s).
-- `waiting` ('1'): the successor is a delayed one that has not started (a created or an end
-- may replace it with one that runs now). `failed` ('1'): the command in flight failed and
-- will be tried again (counted in the state's `attempts`); `answered_send` (its send's token,
-- or ''): Telnyx's answer proves it acted on none of it (a 4xx or 503, not silence nor a 500),
-- and if no earlier send's outcome is unknown (the lane's `sent_by` is this one), the lane
-- forgets when it was sent.
-- Each of `counters` is incremented in the metrics hash (a retry counted only with its
-- hand-off).
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`); and with
-- `for_created` ('1': the wait is for the conference's created), the created has not
-- arrived since the drain took the lane.
-- Answers: 'idle', 'next'; 'again': the created has arrived (nothing changed: the drain takes
-- the lane again); 'lost': the run does not hold the lane (nothing changed: it takes the lane
-- again, and learns whether it is stale).
-- KEYS: state, q, lease, queue, journal, since, metrics, timeline
-- ARGV: drain_id, owner, successor_id, successor_message, due, waiting, failed, for_created,
--       answered_send, note, timeline_cap, timeline_ttl, counters...
--! include lib/args.lua
--! include lib/timeline.lua
--! include lib/fence.lua
--! include lib/once.lua

local state = KEYS[1]
local q = KEYS[2]
local lease = KEYS[3]
local queue = KEYS[4]
local journal = KEYS[5]
local since = KEYS[6]
local metrics = KEYS[7]
local timeline = KEYS[8]
local drain_id = ARGV[1]
local owner = ARGV[2]
local successor_id = ARGV[3]
local successor_message = ARGV[4]
local due = ARGV[5]
local waiting = ARGV[6]
local failed = ARGV[7]
local for_created = ARGV[8]
local answered_send = ARGV[9]
local note = ARGV[10]
local timeline_cap = ARGV[11]
local timeline_ttl = ARGV[12]
local counters = tail(ARGV, 13)

if not holds_lane(state, lease, drain_id, owner) then
  return 'lost'
end
if for_created == '1' and redis.call('HEXISTS', state, 'created') == 1 then return 'again' end
redis.call('HDEL', journal, drain_id)
redis.call('ZREM', since, drain_id)
redis.call('DEL', lease)
for _, counter in ipairs(counters) do redis.call('HINCRBY', metrics, counter, 1) end
-- (What the run waits for, or the failed attempt it retries: said once the hand-off stands.)
timeline_note(timeline, note, timeline_cap, timeline_ttl)
if answered_send ~= '' and redis.call('HGET', state, 'sent_by') == answered_send then
  redis.call('HDEL', state, 'sent_at', 'sent_by')
end
if redis.call('ZCARD', q) == 0 and redis.call('HEXISTS', state, 'inflight') == 0 then
  redis.call('HDEL', state, 'drain', 'waiting')
  compact(state)
  return 'idle'
end
redis.call('HSET', state, 'drain', successor_id)
if failed == '1' then redis.call('HINCRBY', state, 'attempts', 1) end
if waiting == '1' then
  redis.call('HSET', state, 'waiting', '1')
else
  redis.call('HDEL', state, 'waiting')
end
redis.call('HSET', journal, successor_id, successor_message)
redis.call('ZADD', since, due, successor_id)
redis.call('LPUSH', queue, successor_message)
return 'next'
