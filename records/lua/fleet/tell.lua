-- Tell the fleet Telnyx's answer to one command (lib/fleet_tell.lua has what it learns).
-- Answers: 'opened' or 'closed' when the circuit changed, else ''.
-- KEYS: fleet, probe, metrics
-- ARGV: now_ms, outcome, limit, reset, retry_after, sent_ms, owner, ttl, failures,
--       first_probe_ms, longest_probe_ms, margin_ms
--! include lib/fleet_tell.lua

local fleet = KEYS[1]
local probe = KEYS[2]
local metrics = KEYS[3]
local now_ms = ARGV[1]
local outcome = ARGV[2]
local limit = ARGV[3]
local reset = ARGV[4]
local retry_after = ARGV[5]
local sent_ms = ARGV[6]
local owner = ARGV[7]
local ttl = ARGV[8]
local failures = ARGV[9]
local first_probe_ms = ARGV[10]
local longest_probe_ms = ARGV[11]
local margin_ms = ARGV[12]

return fleet_tell(
  {fleet = fleet, probe = probe, metrics = metrics},
  {now = now_ms, outcome = outcome, limit = limit, reset = reset, retry_after = retry_after,
   sent = sent_ms, owner = owner, ttl = ttl, failures = failures,
   first_probe_ms = first_probe_ms, longest_probe_ms = longest_probe_ms,
   margin_ms = margin_ms})
