-- Replay a dead letter: its task's message queued and journaled again, and the letter gone,
-- in one step. A lane that gave the action up recorded it 'dead' in the ledger (so that no
-- redelivery of its event adds it back): that record goes, so that the replay sends it. An
-- action the ledger says is done (Telnyx accepted it since, or it became moot) is not queued:
-- the letter goes. A conference's action has its record in the conference's lane hash, `lane`
-- (lib/once.lua, which also reads one written before under `done`); another's (`lane` is
-- `done` then) is the key `done` of its own.
-- Guard: the letter is still there (another replay, a purge or its expiry has not taken it),
-- and is still `expected`, the letter the caller read (not one written again since).
-- Answers: 1 replayed; 0 no such letter (or another since); 2 done already (the letter gone,
-- nothing queued).
-- KEYS: letters, index, queue, journal, since, done, lane
-- ARGV: task_id, message, now, expected
--! include lib/once.lua

local letters = KEYS[1]
local index = KEYS[2]
local queue = KEYS[3]
local journal = KEYS[4]
local since = KEYS[5]
local done = KEYS[6]
local lane = KEYS[7]
local task_id = ARGV[1]
local message = ARGV[2]
local now = ARGV[3]
local expected = ARGV[4]

if redis.call('HGET', letters, task_id) ~= expected then return 0 end
redis.call('HDEL', letters, task_id)
redis.call('ZREM', index, task_id)
local recorded
if lane == done then recorded = redis.call('GET', done) else recorded = record_of(lane, done) end
if recorded == '1' or recorded == 'moot' then return 2 end
if recorded == 'dead' then clear_record(lane, done) end
redis.call('HSET', journal, task_id, message)
redis.call('ZADD', since, now, task_id)
redis.call('LPUSH', queue, message)
return 1
