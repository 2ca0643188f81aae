-- Ask the fleet whether a command may go now (lib/fleet_ask.lua has the guard), taking one of
-- the remaining commands if so.
-- Answers: {0, 'go'} or {0, 'probe'}: it may go (as the circuit's probe); else {ms to wait,
-- why}: 'open', 'paced' or 'capped'.
-- KEYS: fleet, probe
-- ARGV: now_ms, owner, cap, probe_ms, ttl
--! include lib/fleet_ask.lua

local fleet = KEYS[1]
local probe = KEYS[2]
local now_ms = ARGV[1]
local owner = ARGV[2]
local cap = ARGV[3]
local probe_ms = ARGV[4]
local ttl = ARGV[5]

return fleet_ask(fleet, probe, tonumber(now_ms), owner, cap, probe_ms, ttl)
