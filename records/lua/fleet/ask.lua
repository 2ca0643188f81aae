-- Ask the fleet whether a command may go now (lib/fleet_ask.lua has the guard), taking its
-- place in the pace if so, or keeping its place in the queue if not.
-- Answers: {0, 'go' or 'probe', now, 0}: it may go (as the circuit's probe); else {ms to wait,
-- why, now, commands ahead}: why is 'open', 'paced' or 'capped'.
-- KEYS: fleet, probe, fleet_sent, fleet_queue, fleet_due, fleet_since, metrics
-- ARGV: now_ms, owner, ticket, class, since_ms, cap, start, probe_ms, ttl, grace_ms, margin_ms
--! include lib/fleet_ask.lua

local fleet = KEYS[1]
local probe = KEYS[2]
local fleet_sent = KEYS[3]
local fleet_queue = KEYS[4]
local fleet_due = KEYS[5]
local fleet_since = KEYS[6]
local metrics = KEYS[7]
local now_ms = ARGV[1]
local owner = ARGV[2]
local ticket = ARGV[3]
local class = ARGV[4]
local since_ms = ARGV[5]
local cap = ARGV[6]
local start = ARGV[7]
local probe_ms = ARGV[8]
local ttl = ARGV[9]
local grace_ms = ARGV[10]
local margin_ms = ARGV[11]

return fleet_ask(
  {fleet = fleet, probe = probe, fleet_sent = fleet_sent, fleet_queue = fleet_queue,
   fleet_due = fleet_due, fleet_since = fleet_since, metrics = metrics},
  {now = now_ms, owner = owner, ticket = ticket, class = class, since = since_ms, cap = cap,
   start = start, probe_ms = probe_ms, ttl = ttl, grace_ms = grace_ms, margin_ms = margin_ms})
