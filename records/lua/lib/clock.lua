-- Redis's own clock, in ms: every worker's records of time that the fleet decides by come from
-- one clock, whatever the workers' own say.

local function redis_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

-- `given` (ms) when a test fixes the clock, else Redis's.
local function redis_ms_or(given)
  if given == nil or given == '' then return redis_ms() end
  return tonumber(given)
end
