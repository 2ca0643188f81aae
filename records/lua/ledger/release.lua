-- Give up a claim after a failure, so that a retry (of any worker) can take it at once.
-- Guard: only its owner releases a claim.
-- Answers: 1 released; 0 not (not the owner's, or no claim).
-- KEYS: claim
-- ARGV: owner

local claim = KEYS[1]
local owner = ARGV[1]

if redis.call('GET', claim) == owner then return redis.call('DEL', claim) end
return 0
