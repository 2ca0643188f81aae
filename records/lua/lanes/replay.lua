-- Replay a lane's dead letter through its conference's lane: the letter's command goes back in
-- the lane as one item (in event order, sent by the lane's drain like any other), in the same
-- step as the letter goes and the ledger's 'dead' record of it is cleared.
-- Guard: the letter is still the one the caller read (`letter`): not replayed, purged or
-- expired meanwhile, nor written again by a later failure.
-- Effect, by what the ledger and the lane say of it now:
-- * done: Telnyx accepted it already (its done record '1', or 'moot'): the letter goes, nothing
--   is queued;
-- * moot: the caller found it past its age rule (`moot_why`), or the conference has ended, or
--   the participant it announces has left since its event: the letter goes, the done record
--   says 'moot' (for `done_ttl` s), nothing is queued;
-- * replayed: the done record cleared, the item queued by `score` then arrival (unless it is
--   waiting already), and a lane with no drain gets `drain_id`, journaled and queued.
-- With `dry` ('1'), nothing is written: the answer says what the replay would come to.
-- Answers: {'gone'} | {'done'} | {'moot', why} | {'replayed', scheduled (0|1)}.
-- KEYS: letters, letter_index, done, state, q, items, queue, journal, since, timeline
-- ARGV: letter_id, letter, action_id, score, item, drain_id, drain_message, now_s, ttl,
--       done_ttl, moot_why, participant, occurred_us, dry, note, timeline_cap, timeline_ttl
--! include lib/members.lua
--! include lib/timeline.lua
--! include lib/once.lua

local letters = KEYS[1]
local letter_index = KEYS[2]
local done = KEYS[3]
local state = KEYS[4]
local q = KEYS[5]
local items = KEYS[6]
local queue = KEYS[7]
local journal = KEYS[8]
local since = KEYS[9]
local timeline = KEYS[10]
local letter_id = ARGV[1]
local letter = ARGV[2]
local action_id = ARGV[3]
local score = ARGV[4]
local item = ARGV[5]
local drain_id = ARGV[6]
local drain_message = ARGV[7]
local now_s = ARGV[8]
local ttl = ARGV[9]
local done_ttl = ARGV[10]
local moot_why = ARGV[11]
local participant = ARGV[12]
local occurred_us = ARGV[13]
local dry = ARGV[14]
local note = ARGV[15]
local timeline_cap = ARGV[16]
local timeline_ttl = ARGV[17]

if redis.call('HGET', letters, letter_id) ~= letter then return {'gone'} end
local recorded = record_of(state, done)
local why = moot_why
if why == '' and redis.call('HGET', state, 'ended') == '1' then
  why = 'the conference has ended'
end
if why == '' and participant ~= '' then
  local left = redis.call('HGET', state, 'left:' .. participant)
  if left and tonumber(left) >= tonumber(occurred_us) then why = 'the participant has left' end
end
if dry == '1' then
  if recorded == '1' or recorded == 'moot' then return {'done'} end
  if why ~= '' then return {'moot', why} end
  return {'replayed', 0}
end
redis.call('HDEL', letters, letter_id)
redis.call('ZREM', letter_index, letter_id)
if recorded == '1' or recorded == 'moot' then
  timeline_note(timeline, note, timeline_cap, timeline_ttl, '"outcome":"already_done",')
  return {'done'}
end
if why ~= '' then
  record(state, done, 'moot', done_ttl)
  timeline_note(timeline, note, timeline_cap, timeline_ttl,
                '"outcome":"moot","why":' .. cjson.encode(why) .. ',')
  return {'moot', why}
end
clear_record(state, done)
if redis.call('HSETNX', items, action_id, item) == 1 then
  local seq = redis.call('HINCRBY', state, 'seq', 1)
  redis.call('ZADD', q, score, queue_member(seq, action_id))
end
local scheduled = 0
if not redis.call('HGET', state, 'drain') then
  redis.call('HSET', state, 'drain', drain_id)
  redis.call('HSET', journal, drain_id, drain_message)
  redis.call('ZADD', since, now_s, drain_id)
  redis.call('LPUSH', queue, drain_message)
  scheduled = 1
end
keep_for(state, ttl)
redis.call('EXPIRE', q, ttl)
redis.call('EXPIRE', items, ttl)
timeline_note(timeline, note, timeline_cap, timeline_ttl, '"outcome":"replayed",')
return {'replayed', scheduled}
