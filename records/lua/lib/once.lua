-- A conference's exactly-once records (records/once.py): fields of its lane hash, one per event
-- seen and per action done. A script is given each record's key of its own (`tcw:seen:<event
-- id>`, `tcw:done:<action id>`), as records were kept before: the field is derived from that
-- name, and a record still held under the key (written before) is read, never written again.

-- The field of the record whose key of its own is `key`: 8 bytes of the SHA-1 of its name,
-- the first bit set (no state field's name has it: take_lane leaves such fields out).
local function field_of(key)
  local hex = redis.sha1hex(key)
  local bytes = {string.char(tonumber(string.sub(hex, 1, 2), 16) % 128 + 128)}
  for i = 3, 15, 2 do bytes[#bytes + 1] = string.char(tonumber(string.sub(hex, i, i + 1), 16)) end
  return table.concat(bytes)
end

-- Extend `key`'s expiry to at least `ttl` s from now, never shorten it: records of different
-- retentions share the hash, and each lives at least its own.
local function keep_for(key, ttl)
  if redis.call('TTL', key) < tonumber(ttl) then redis.call('EXPIRE', key, ttl) end
end

-- The record `key` names, in `hash`, else under the key itself; false when there is none. Of
-- two (a worker of the version before wrote the key during an upgrade), done or moot wins over
-- dead, as an acceptance does over a dead letter in settle.
local function record_of(hash, key)
  local value = redis.call('HGET', hash, field_of(key))
  if value and value ~= 'dead' then return value end
  return redis.call('GET', key) or value
end

-- Record `value` for `key` in `hash`, kept at least `ttl` s (one held under the key itself,
-- written before, goes: the hash's is the record now).
local function record(hash, key, value, ttl)
  redis.call('HSET', hash, field_of(key), value)
  redis.call('DEL', key)
  keep_for(hash, ttl)
end

-- Clear the record `key` names, wherever it is held.
local function clear_record(hash, key)
  redis.call('HDEL', hash, field_of(key))
  redis.call('DEL', key)
end

-- The lane's own fields of `hash` as HGETALL gives them, its records left out.
local function lane_fields(hash)
  local all = redis.call('HGETALL', hash)
  local fields = {}
  for i = 1, #all, 2 do
    if string.byte(all[i], 1) < 128 then
      fields[#fields + 1] = all[i]
      fields[#fields + 1] = all[i + 1]
    end
  end
  return fields
end

-- Redis keeps a small hash as a listpack (a field costs its bytes and two) until a field or
-- value passes hash-max-listpack-value (64 bytes by default) or it has more fields than
-- hash-max-listpack-entries (128), then as a table for good (about 60 bytes a field more),
-- even once the large value is gone. A lane's pinned command is such a value; so once the lane
-- is idle, its hash is written anew, small again for the rest of its life, expiry kept.
local function compact(hash)
  if redis.call('OBJECT', 'ENCODING', hash) ~= 'hashtable' then return end
  local all = redis.call('HGETALL', hash)
  if #all > 2 * 128 then return end
  for _, value in ipairs(all) do
    if #value > 64 then return end
  end
  local ttl = redis.call('PTTL', hash)
  redis.call('DEL', hash)
  redis.call('HSET', hash, unpack(all))
  if ttl > 0 then redis.call('PEXPIRE', hash, ttl) end
end
