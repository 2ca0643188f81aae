-- Claim an action for `owner`, for `lease_ms` (its owner may claim it again: the lease is
-- renewed).
-- An action of a conference's lane has its done record in its conference's lane hash, `lane`
-- (lib/once.lua, which also reads one written before under `done`); another action (`lane` is
-- `done` then) has the key `done` of its own.
-- Answers: 'done': performed already; 'claimed': the owner's to perform; else the ms left on
-- another owner's claim (as text).
-- KEYS: done, claim, lane
-- ARGV: owner, lease_ms
--! include lib/once.lua

local done = KEYS[1]
local claim = KEYS[2]
local lane = KEYS[3]
local owner = ARGV[1]
local lease_ms = ARGV[2]

if lane == done then
  if redis.call('EXISTS', done) == 1 then return 'done' end
elseif record_of(lane, done) then
  return 'done'
end
if redis.call('SET', claim, owner, 'NX', 'PX', lease_ms) then return 'claimed' end
if redis.call('GET', claim) == owner then
  redis.call('PEXPIRE', claim, lease_ms)
  return 'claimed'
end
return tostring(redis.call('PTTL', claim))
