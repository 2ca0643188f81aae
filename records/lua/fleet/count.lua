-- Count a send that goes whatever the pace says in the window's log: a resend of a command whose
-- outcome is unknown, which must leave inside Telnyx's command_id window (docs/lanes.md). Telnyx
-- counts it against the rate limit; so does the fleet, and those who ask after it leave room
-- for it.
-- Answers: now (ms, Redis's clock unless a test gives one).
-- KEYS: fleet, fleet_sent
-- ARGV: now_ms, owner, margin_ms
--! include lib/fleet_ask.lua

local fleet = KEYS[1]
local fleet_sent = KEYS[2]
local now_ms = ARGV[1]
local owner = ARGV[2]
local margin_ms = ARGV[3]

local now = redis_ms_or(now_ms)
-- (Kept as long as fleet_ask keeps its sends: the window learned, a second at least.)
local window = math.max(tonumber(redis.call('HGET', fleet, 'window') or '0'), 1000)
fleet_count(fleet_sent, now, owner, window + tonumber(margin_ms))
return now
