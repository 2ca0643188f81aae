-- Settle the command in flight, `batch_id`, covering `action_ids`: done keys given, each is
-- set to `done_value` for `done_ttl` s ('1': sent, or moot; 'dead': given up on, with its dead
-- letter), so that no redelivery of their events adds any of them back; `letter` ('' none),
-- the command's dead letter, stored under `letter_id` at `failed_at`. Telling (`tell` '1'),
-- the fleet learns from Telnyx's answer first, whatever else happens (lib/fleet_tell.lua, with
-- the tell_ arguments).
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`). A run that
-- does not holds no say over the lane, but when Telnyx accepted what it sent (`accepted`
-- '1'), that is the one record both agree on: the done records are set ('1') all the same, a
-- dead letter the holder wrote for the command (its outcome unknown to the holder) is
-- withdrawn, and the run that holds the lane finds the command done instead of sending it
-- again. Otherwise it changes nothing but giving up its own claim. Only the command in
-- flight is settled, once: running this again after a lost reply changes nothing more.
-- Effect: the command no longer in flight (nor its attempts and first send); the done records
-- (lib/once.lua) set; the letter stored; the claim given up; the items gone;
-- `announced_field` ('' none) set to `now_ms`; `ended` ('1') recorded; the latency ('' none)
-- added to `latency_sum_field` and each of `counters` incremented in the metrics hash. If nothing
-- waits, the lane goes idle (no drain, no lease) and the drain's message is complete, in the
-- same step, its hash written anew, small (lib/once.lua's compact); else the lease is renewed.
-- A letter is not written over an acceptance: when the command's own done record already says
-- a run that lost the lane had it accepted ('1'), it is settled done instead.
-- Answers: {'idle', told, kept}, {'more', told, kept} or {'lost', told, ''} (the run does not
-- hold the lane, or the command in flight is another's), where told is what fleet_tell
-- answered ('opened', 'closed' or '', and '' when not telling), and kept is 'accepted' when
-- a letter gave way to an acceptance, else ''.
-- KEYS: state, items, metrics, claim, q, lease, journal, since, fleet, probe, letters,
--       letter_index, timeline, done_keys...
-- ARGV: done_ttl, done_value, accepted, letter_id, letter, failed_at, announced_field,
--       now_ms, ended, latency, latency_sum_field, drain_id, owner, batch_id, lease_ms, tell,
--       tell_now_ms, tell_outcome, tell_limit, tell_reset, tell_retry_after, tell_sent_ms,
--       tell_owner, tell_ttl, tell_failures, tell_first_probe_ms, tell_longest_probe_ms,
--       tell_margin_ms,
--       note, timeline_cap, timeline_ttl, action_ids..., counters...
-- (done_keys: the command's own first, then each item's.)
--! include lib/args.lua
--! include lib/fleet_tell.lua
--! include lib/fence.lua
--! include lib/timeline.lua
--! include lib/once.lua

local state = KEYS[1]
local items = KEYS[2]
local metrics = KEYS[3]
local claim = KEYS[4]
local q = KEYS[5]
local lease = KEYS[6]
local journal = KEYS[7]
local since = KEYS[8]
local fleet = KEYS[9]
local probe = KEYS[10]
local letters = KEYS[11]
local letter_index = KEYS[12]
local timeline = KEYS[13]
local done_keys = tail(KEYS, 14)
local done_ttl = ARGV[1]
local done_value = ARGV[2]
local accepted = ARGV[3]
local letter_id = ARGV[4]
local letter = ARGV[5]
local failed_at = ARGV[6]
local announced_field = ARGV[7]
local now_ms = ARGV[8]
local ended = ARGV[9]
local latency = ARGV[10]
local latency_sum_field = ARGV[11]
local drain_id = ARGV[12]
local owner = ARGV[13]
local batch_id = ARGV[14]
local lease_ms = ARGV[15]
local tell = ARGV[16]
local tell_now_ms = ARGV[17]
local tell_outcome = ARGV[18]
local tell_limit = ARGV[19]
local tell_reset = ARGV[20]
local tell_retry_after = ARGV[21]
local tell_sent_ms = ARGV[22]
local tell_owner = ARGV[23]
local tell_ttl = ARGV[24]
local tell_failures = ARGV[25]
local tell_first_probe_ms = ARGV[26]
local tell_longest_probe_ms = ARGV[27]
local tell_margin_ms = ARGV[28]
local note = ARGV[29]
local timeline_cap = ARGV[30]
local timeline_ttl = ARGV[31]
local action_ids, counters = lists(ARGV, 32, 2)

local told = ''
if tell == '1' then
  told = fleet_tell(
    {fleet = fleet, probe = probe, metrics = metrics},
    {now = tell_now_ms, outcome = tell_outcome, limit = tell_limit, reset = tell_reset,
     retry_after = tell_retry_after, sent = tell_sent_ms, owner = tell_owner, ttl = tell_ttl,
     failures = tell_failures, first_probe_ms = tell_first_probe_ms,
     longest_probe_ms = tell_longest_probe_ms, margin_ms = tell_margin_ms})
end
if not holds_lane(state, lease, drain_id, owner) then
  if accepted == '1' then
    for _, key in ipairs(done_keys) do record(state, key, '1', done_ttl) end
    redis.call('HDEL', letters, batch_id)
    redis.call('ZREM', letter_index, batch_id)
  end
  if redis.call('GET', claim) == owner then redis.call('DEL', claim) end
  return {'lost', told, ''}
end
local batch = redis.call('HGET', state, 'batch')
if batch and batch ~= batch_id then return {'lost', told, ''} end
local kept = ''
if batch and letter ~= '' and #done_keys > 0 and record_of(state, done_keys[1]) == '1' then
  -- A run that lost the lane has recorded that Telnyx accepted this command: that stands, and
  -- the command is settled done, not given up on.
  letter, done_value, kept = '', '1', 'accepted'
end
if batch then
  redis.call('HDEL', state, 'inflight', 'batch', 'attempts', 'sent_at', 'sent_by')
  for _, key in ipairs(done_keys) do record(state, key, done_value, done_ttl) end
  if letter ~= '' then
    redis.call('HSET', letters, letter_id, letter)
    redis.call('ZADD', letter_index, failed_at, letter_id)
  end
  if redis.call('GET', claim) == owner then redis.call('DEL', claim) end
  for _, id in ipairs(action_ids) do redis.call('HDEL', items, id) end
  if announced_field ~= '' then redis.call('HSET', state, announced_field, now_ms) end
  if ended == '1' then redis.call('HSET', state, 'ended', '1') end
  if latency ~= '' then redis.call('HINCRBYFLOAT', metrics, latency_sum_field, latency) end
  for _, counter in ipairs(counters) do redis.call('HINCRBY', metrics, counter, 1) end
  -- (The outcome goes on the timeline only here, once the fenced settle stands; a letter that
  -- gave way to an acceptance is not the outcome: the ledger's done record says it.)
  if kept == '' then timeline_note(timeline, note, timeline_cap, timeline_ttl) end
end
if redis.call('ZCARD', q) == 0 then
  redis.call('HDEL', state, 'drain', 'waiting')
  redis.call('DEL', lease)
  redis.call('HDEL', journal, drain_id)
  redis.call('ZREM', since, drain_id)
  compact(state)
  return {'idle', told, kept}
end
redis.call('PEXPIRE', lease, lease_ms)
return {'more', told, kept}
