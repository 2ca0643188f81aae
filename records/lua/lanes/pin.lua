-- Pin the command a drain's run is about to send: `inflight` (command `batch_id`) becomes the
-- lane's command in flight, pinned before it is sent so that a re-run resends exactly it, its
-- items (`members`) are taken out of the queue, and it is claimed in the ledger for `owner`.
-- Asking (`ask` '1'), the fleet is asked in the same step whether it may go now
-- (lib/fleet_ask.lua, with the ask_ arguments); when it may, the command goes now, and the
-- lane records it as its first send (`sent_at` by Redis's clock, `sent_by`: `send_token`).
-- Guard: the run holds the lane (its lease, and the lane's drain is `drain_id`), no command is
-- in flight already, and every member is still waiting (not taken by a run that has since
-- lost the lane). Otherwise nothing changes.
-- Pinned, `note` ('' none: a merge, which events the command covers) goes on the timeline.
-- Answers: {1, wait ms, why, now, ahead}: pinned and claimed, and (asking) the fleet's
-- answer: 0 and '' when not asking, else fleet_ask's; {2, 0, ''}: pinned, but another holds
-- the claim, or the command is done already (`done`, its done record, lib/once.lua: a run that
-- lost the lane had Telnyx accept it after its letter was replayed), which the ledger's begin
-- then says; {0, 0, ''}: not pinned (the guard failed).
-- KEYS: state, q, claim, lease, fleet, probe, fleet_sent, fleet_queue, fleet_due,
--       fleet_since, metrics, timeline, done
-- ARGV: drain_id, inflight, owner, lease_ms, batch_id, send_token, ask, ask_now_ms, ask_owner,
--       ask_ticket, ask_class, ask_since_ms, ask_cap, ask_start, ask_probe_ms, ask_ttl,
--       ask_grace_ms, ask_margin_ms, note, timeline_cap, timeline_ttl, members...
--! include lib/args.lua
--! include lib/fleet_ask.lua
--! include lib/clock.lua
--! include lib/fence.lua
--! include lib/timeline.lua
--! include lib/once.lua

local state = KEYS[1]
local q = KEYS[2]
local claim = KEYS[3]
local lease = KEYS[4]
local fleet = KEYS[5]
local probe = KEYS[6]
local fleet_sent = KEYS[7]
local fleet_queue = KEYS[8]
local fleet_due = KEYS[9]
local fleet_since = KEYS[10]
local metrics = KEYS[11]
local timeline = KEYS[12]
local done = KEYS[13]
local drain_id = ARGV[1]
local inflight = ARGV[2]
local owner = ARGV[3]
local lease_ms = ARGV[4]
local batch_id = ARGV[5]
local send_token = ARGV[6]
local ask = ARGV[7]
local ask_now_ms = ARGV[8]
local ask_owner = ARGV[9]
local ask_ticket = ARGV[10]
local ask_class = ARGV[11]
local ask_since_ms = ARGV[12]
local ask_cap = ARGV[13]
local ask_start = ARGV[14]
local ask_probe_ms = ARGV[15]
local ask_ttl = ARGV[16]
local ask_grace_ms = ARGV[17]
local ask_margin_ms = ARGV[18]
local note = ARGV[19]
local timeline_cap = ARGV[20]
local timeline_ttl = ARGV[21]
local members = tail(ARGV, 22)

if not holds_lane(state, lease, drain_id, owner) then
  return {0, 0, ''}
end
if redis.call('HEXISTS', state, 'inflight') == 1 then return {0, 0, ''} end
for _, member in ipairs(members) do
  if not redis.call('ZSCORE', q, member) then return {0, 0, ''} end
end
redis.call('PEXPIRE', lease, lease_ms)
redis.call('HSET', state, 'inflight', inflight, 'batch', batch_id)
for _, member in ipairs(members) do redis.call('ZREM', q, member) end
timeline_note(timeline, note, timeline_cap, timeline_ttl)
if record_of(state, done) then return {2, 0, ''} end
if not redis.call('SET', claim, owner, 'NX', 'PX', lease_ms) then return {2, 0, ''} end
if ask ~= '1' then return {1, 0, ''} end
local go = fleet_ask(
  {fleet = fleet, probe = probe, fleet_sent = fleet_sent, fleet_queue = fleet_queue,
   fleet_due = fleet_due, fleet_since = fleet_since, metrics = metrics},
  {now = ask_now_ms, owner = ask_owner, ticket = ask_ticket, class = ask_class,
   since = ask_since_ms, cap = ask_cap, start = ask_start, probe_ms = ask_probe_ms,
   ttl = ask_ttl, grace_ms = ask_grace_ms, margin_ms = ask_margin_ms})
if tonumber(go[1]) <= 0 then
  redis.call('HSET', state, 'sent_at', redis_ms(), 'sent_by', send_token)
end
return {1, go[1], go[2], go[3], go[4]}
