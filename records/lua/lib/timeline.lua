-- A conference's timeline (records/timeline.py): what the service did for it, one JSON object
-- an entry, in a list capped at `cap` entries and kept `ttl` s after its last one. Each entry
-- is stamped with Redis's clock (ms), so the web's and the workers' entries order alike, and
-- `extra` ('' none: fields as JSON text, each followed by a comma) adds what only the script
-- knows (a webhook queued or duplicate). The caller's `note` is a JSON object ('' none). With
-- `ttl` 0 no timeline is kept (TIMELINE_RETENTION_HOURS=0, the default): nothing is written.
--! include lib/clock.lua

local function timeline_note(key, note, cap, ttl, extra)
  if note == '' or tonumber(ttl) <= 0 then return end
  local entry = '{"t":' .. redis_ms() .. ',' .. (extra or '') .. string.sub(note, 2)
  redis.call('RPUSH', key, entry)
  redis.call('LTRIM', key, -tonumber(cap), -1)
  redis.call('EXPIRE', key, ttl)
end
