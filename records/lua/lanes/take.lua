-- Take the lane for one run of its drain: the lane as drain `drain_id` sees it, the lane's
-- lease taken (or renewed) for the run `owner` (lib/take_lane.lua has the guard and effect).
-- Answers: {'stale'}: not this drain's lane any more (its message is complete now);
-- {'busy', ms}: another run holds the lease, for ms more; {'ok', the state hash, the first
-- `take_limit` waiting members, their items, the action ids of members whose item was gone}.
-- KEYS: state, q, items, lease, journal, since, metrics
-- ARGV: drain_id, owner, lease_ms, take_limit, missing_counter
--! include lib/take_lane.lua

local state = KEYS[1]
local q = KEYS[2]
local items = KEYS[3]
local lease = KEYS[4]
local journal = KEYS[5]
local since = KEYS[6]
local metrics = KEYS[7]
local drain_id = ARGV[1]
local owner = ARGV[2]
local lease_ms = ARGV[3]
local take_limit = ARGV[4]
local missing_counter = ARGV[5]

return take_lane(state, q, items, lease, journal, since, metrics, drain_id, owner, lease_ms,
                 take_limit, missing_counter)
