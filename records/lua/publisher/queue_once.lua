-- Queue a webhook's event task and journal it, once per event: the seen marker and the queue
-- are written in the same step, so of several deliveries of one event exactly one is queued,
-- and an event is never marked seen without being queued.
-- Guard: the event's seen record is not set (it is set now, kept at least `seen_ttl` s). A
-- conference's event's is a field of its conference's lane hash, `lane` (lib/once.lua; one
-- written before under the key `seen` still counts); an event with no conference (`lane` is
-- `seen` then) has the key `seen` of its own.
-- Effect: queued and journaled, counted as enqueued; or, seen before, counted as a duplicate.
-- Either way, a conference's event (`note` not '') goes on its conference's timeline
-- (lib/timeline.lua), queued or duplicate, and its event id and call control id (`event_ref`,
-- `call_ref`: the same key twice when it has none) name the conference for `timeline_ttl` s.
-- Answers: 1 queued; 0 seen before.
-- KEYS: queue, journal, since, seen, lane, metrics, timeline, event_ref, call_ref
-- ARGV: task_id, message, now, seen_ttl, note, conference_id, timeline_cap, timeline_ttl
--! include lib/timeline.lua
--! include lib/once.lua

local queue = KEYS[1]
local journal = KEYS[2]
local since = KEYS[3]
local seen = KEYS[4]
local lane = KEYS[5]
local metrics = KEYS[6]
local timeline = KEYS[7]
local event_ref = KEYS[8]
local call_ref = KEYS[9]
local task_id = ARGV[1]
local message = ARGV[2]
local now = ARGV[3]
local seen_ttl = ARGV[4]
local note = ARGV[5]
local conference_id = ARGV[6]
local timeline_cap = ARGV[7]
local timeline_ttl = ARGV[8]

local function on_timeline(outcome)
  if note == '' or tonumber(timeline_ttl) <= 0 then return end
  timeline_note(timeline, note, timeline_cap, timeline_ttl, '"outcome":"' .. outcome .. '",')
  redis.call('SET', event_ref, conference_id, 'EX', timeline_ttl)
  if call_ref ~= event_ref then redis.call('SET', call_ref, conference_id, 'EX', timeline_ttl) end
end

-- Seen before? Marks it seen when not.
local function seen_before()
  if lane == seen then return not redis.call('SET', seen, '1', 'NX', 'EX', seen_ttl) end
  if record_of(lane, seen) then return true end
  record(lane, seen, 's', seen_ttl)
  return false
end

if seen_before() then
  redis.call('HINCRBY', metrics, 'telnyx_webhooks_duplicate_total', 1)
  on_timeline('duplicate')
  return 0
end
redis.call('HSET', journal, task_id, message)
redis.call('ZADD', since, now, task_id)
redis.call('LPUSH', queue, message)
redis.call('HINCRBY', metrics, 'telnyx_webhooks_enqueued_total', 1)
on_timeline('queued')
return 1
