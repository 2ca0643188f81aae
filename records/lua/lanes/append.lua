-- Append an event's follow-ups to its conference's lane, with what the event says of the
-- conference, and give the lane a drain if it needs one.
-- Effect: the lane's `first` (the first event's ms) once; `created` or `ended` for those
-- events; `left:<call_control_id>` (us), when later than the one known. Each entry (action id,
-- score, item) not done already (its done record: lib/once.lua) nor waiting already is queued,
-- by score, then arrival. A lane with work and no drain gets `drain_id` as its drain, and a
-- drain waiting for a created (or spacing announcements) is replaced by `drain_id` when the
-- created or the end arrives: its message is journaled, and queued unless `inline` ('1': the
-- caller runs the drain itself; the journal queues the message if the caller dies first). The
-- caller's own message (`complete`, the event task's id, or '') is complete in the same step:
-- its follow-ups are in the lane now, and the lane has a drain whose message is journaled. The
-- lane's keys expire `ttl` s after this write (its hash no sooner than its records allow).
-- Answers: {added, scheduled (1: `drain_id` became the lane's drain now), 0} when another drain
-- has the lane; {added, scheduled, 1} when `drain_id` is the lane's drain (now, or by an
-- earlier run of the caller) and no `owner` was given; with an `owner`, {added, scheduled, 1,
-- the lane as lib/take_lane.lua answers for that owner (the lease taken)}.
-- KEYS: state, q, items, queue, journal, since, lease, metrics, timeline, done_keys...
-- ARGV: now_ms, ttl, event_type, left_call, left_us, drain_id, drain_message, now_s, inline,
--       owner, lease_ms, take_limit, missing_counter, complete, note, timeline_cap,
--       timeline_ttl, entries...
-- (done_keys: each entry's done key (lib/once.lua); entries: action id, score and item, for
-- each entry.)
--! include lib/args.lua
--! include lib/once.lua
--! include lib/members.lua
--! include lib/take_lane.lua
--! include lib/timeline.lua

local state = KEYS[1]
local q = KEYS[2]
local items = KEYS[3]
local queue = KEYS[4]
local journal = KEYS[5]
local since = KEYS[6]
local lease = KEYS[7]
local metrics = KEYS[8]
local timeline = KEYS[9]
local done_keys = tail(KEYS, 10)
local now_ms = ARGV[1]
local ttl = ARGV[2]
local event_type = ARGV[3]
local left_call = ARGV[4]
local left_us = ARGV[5]
local drain_id = ARGV[6]
local drain_message = ARGV[7]
local now_s = ARGV[8]
local inline = ARGV[9]
local owner = ARGV[10]
local lease_ms = ARGV[11]
local take_limit = ARGV[12]
local missing_counter = ARGV[13]
local complete = ARGV[14]
local note = ARGV[15]
local timeline_cap = ARGV[16]
local timeline_ttl = ARGV[17]
local entries = tail(ARGV, 18)

redis.call('HSETNX', state, 'first', now_ms)
local wake = false
if event_type == 'conference.created' then
  redis.call('HSET', state, 'created', '1')
  wake = true
elseif event_type == 'conference.ended' then
  redis.call('HSET', state, 'ended', '1')
  wake = true
end
if left_call ~= '' then
  local f = 'left:' .. left_call
  if tonumber(left_us) > tonumber(redis.call('HGET', state, f) or '-1') then
    redis.call('HSET', state, f, left_us)
  end
end
local added = 0
for n = 1, #entries / 3 do
  local id, score, item = entries[3 * n - 2], entries[3 * n - 1], entries[3 * n]
  if not record_of(state, done_keys[n]) and redis.call('HSETNX', items, id, item) == 1 then
    local seq = redis.call('HINCRBY', state, 'seq', 1)
    redis.call('ZADD', q, score, queue_member(seq, id))
    added = added + 1
  end
end
-- What the rules planned for the event goes on the timeline when its follow-ups were added.
if added > 0 then timeline_note(timeline, note, timeline_cap, timeline_ttl) end
local drain = redis.call('HGET', state, 'drain')
local scheduled = 0
-- A lane with work gets a drain; a drain waiting for a created (or spacing announcements) is
-- replaced by one that runs now when the created or the end arrives.
if (not drain and redis.call('ZCARD', q) > 0)
    or (drain and wake and redis.call('HGET', state, 'waiting') == '1') then
  redis.call('HSET', state, 'drain', drain_id)
  redis.call('HDEL', state, 'waiting')
  redis.call('HSET', journal, drain_id, drain_message)
  redis.call('ZADD', since, now_s, drain_id)
  if inline ~= '1' then redis.call('LPUSH', queue, drain_message) end
  scheduled = 1
end
keep_for(state, ttl)
redis.call('EXPIRE', q, ttl)
redis.call('EXPIRE', items, ttl)
if complete ~= '' then
  redis.call('HDEL', journal, complete)
  redis.call('ZREM', since, complete)
end
if redis.call('HGET', state, 'drain') ~= drain_id then return {added, scheduled, 0} end
if owner == '' then return {added, scheduled, 1} end
return {added, scheduled, 1,
        take_lane(state, q, items, lease, journal, since, metrics, drain_id, owner, lease_ms,
                  take_limit, missing_counter)}
