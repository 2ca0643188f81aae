-- Claim an action for `owner`, for `lease_ms` (its owner may claim it again: the lease is
-- renewed).
-- Answers: 'done': performed already; 'claimed': the owner's to perform; else the ms left on
-- another owner's claim (as text).
-- KEYS: done, claim
-- ARGV: owner, lease_ms

local done = KEYS[1]
local claim = KEYS[2]
local owner = ARGV[1]
local lease_ms = ARGV[2]

if redis.call('EXISTS', done) == 1 then return 'done' end
if redis.call('SET', claim, owner, 'NX', 'PX', lease_ms) then return 'claimed' end
if redis.call('GET', claim) == owner then
  redis.call('PEXPIRE', claim, lease_ms)
  return 'claimed'
end
return tostring(redis.call('PTTL', claim))
