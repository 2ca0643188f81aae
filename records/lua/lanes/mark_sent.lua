-- Before the command in flight is sent (again: after a retry's backoff, a wait for the fleet,
-- or a run that died), by Redis's clock. The lane keeps its first send whose outcome is
-- unknown (`sent_at`, and `sent_by`: that send's token), from which Telnyx's command_id window
-- runs; with none, this send (`send_token`) becomes it. Past `window_ms` since `sent_at`, the
-- command must not be sent again: Telnyx may have acted on it, and would act again.
-- Guard: the run holds the lane (lib/fence.lua), and a command is in flight.
-- Answers: {1, sent_at ms, own, past, now ms}: the lease renewed; own 1 when `sent_at` is this
-- send's (recorded now, or by an earlier call with the same token: a lost reply), past 1 when
-- the window has passed (nothing recorded then); now: Redis's clock at the check, from which
-- the caller bounds how long the send may take to leave; {0, 0, 0, 0, 0}: the guard failed
-- (nothing changed).
-- KEYS: state, lease
-- ARGV: drain_id, owner, lease_ms, send_token, window_ms
--! include lib/fence.lua
--! include lib/clock.lua

local state = KEYS[1]
local lease = KEYS[2]
local drain_id = ARGV[1]
local owner = ARGV[2]
local lease_ms = ARGV[3]
local send_token = ARGV[4]
local window_ms = ARGV[5]

if not holds_lane(state, lease, drain_id, owner) then return {0, 0, 0, 0, 0} end
if redis.call('HEXISTS', state, 'inflight') == 0 then return {0, 0, 0, 0, 0} end
redis.call('PEXPIRE', lease, lease_ms)
local now = redis_ms()
local sent_at = tonumber(redis.call('HGET', state, 'sent_at'))
if not sent_at then
  redis.call('HSET', state, 'sent_at', now, 'sent_by', send_token)
  return {1, now, 1, 0, now}
end
local own = redis.call('HGET', state, 'sent_by') == send_token and 1 or 0
local past = (own == 0 and now - sent_at > tonumber(window_ms)) and 1 or 0
return {1, sent_at, own, past, now}
