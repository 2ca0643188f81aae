-- Tell the fleet Telnyx's answer to one command (lib/fleet_tell.lua has what it learns).
-- Answers: 'opened' or 'closed' when the circuit changed, else ''.
-- KEYS: fleet, probe, metrics
-- ARGV: now_ms, outcome, limit, remaining, reset, retry_after, owner, ttl, failures,
--       first_probe_ms, longest_probe_ms
--! include lib/fleet_tell.lua

local fleet = KEYS[1]
local probe = KEYS[2]
local metrics = KEYS[3]
local now_ms = ARGV[1]
local outcome = ARGV[2]
local limit = ARGV[3]
local remaining = ARGV[4]
local reset = ARGV[5]
local retry_after = ARGV[6]
local owner = ARGV[7]
local ttl = ARGV[8]
local failures = ARGV[9]
local first_probe_ms = ARGV[10]
local longest_probe_ms = ARGV[11]

return fleet_tell(fleet, probe, metrics, tonumber(now_ms), outcome, limit, remaining, reset,
                  retry_after, owner, ttl, failures, first_probe_ms, longest_probe_ms)
