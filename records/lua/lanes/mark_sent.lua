-- Record that the command in flight is about to be sent again (a resend after a retry's
-- backoff, a wait for the fleet, or a run that died), unless an earlier send's outcome is
-- still unknown: the lane's `sent_at` is then kept, the earliest send Telnyx may have acted
-- on, from which its command_id window runs.
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`), and a
-- command is in flight.
-- Answers: {1, sent_at ms}: recorded (or kept), and the lease renewed; {0, 0}: the guard
-- failed (nothing changed).
-- KEYS: state, lease
-- ARGV: drain_id, owner, lease_ms, now_ms
--! include lib/fence.lua

local state = KEYS[1]
local lease = KEYS[2]
local drain_id = ARGV[1]
local owner = ARGV[2]
local lease_ms = ARGV[3]
local now_ms = ARGV[4]

if not holds_lane(state, lease, drain_id, owner) then
  return {0, 0}
end
if redis.call('HEXISTS', state, 'inflight') == 0 then return {0, 0} end
redis.call('PEXPIRE', lease, lease_ms)
redis.call('HSETNX', state, 'sent_at', now_ms)
return {1, tonumber(redis.call('HGET', state, 'sent_at'))}
