-- Delete the dead letters that died before `oldest_kept` (epoch s), at most `limit` a call.
-- Answers: how many went (fewer than `limit`: none older is left).
-- KEYS: letters, index
-- ARGV: oldest_kept, limit

local letters = KEYS[1]
local index = KEYS[2]
local oldest_kept = ARGV[1]
local limit = ARGV[2]

local ids = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. oldest_kept, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  redis.call('HDEL', letters, id)
  redis.call('ZREM', index, id)
end
return #ids
