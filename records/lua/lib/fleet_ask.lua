-- fleet_ask: whether a command may go now, taking one of the fleet's remaining commands if so
-- (records/fleet.py). The fleet/ask script runs it, and the pin script too, so that a lane's
-- command asks the fleet in the round trip that pins it.
-- f: the fleet hash; probe_key: the probe lease; now (ms, a number); owner; cap: commands a
-- second ('' none); probe_ms: the probe lease; ttl (s): the fleet hash's expiry.
-- Guard: an open circuit lets one probe go at a time, once its interval has passed; a pause
-- after a 429 holds every command until it ends; Telnyx's window, once known, lets `limit`
-- go (those in flight count); the cap, `cap` a second.
-- Answers: {0, 'go'} or {0, 'probe'}: this one may go (as the circuit's probe); else {ms to
-- wait, why}: 'open' (Telnyx is down), 'paced' (its rate limit), 'capped' (ours).

local function fleet_ask(f, probe_key, now, owner, cap, probe_ms, ttl)
  local state = redis.call('HGET', f, 'state')
  local probe = 0
  if state == 'open' then
    local at = tonumber(redis.call('HGET', f, 'probe_at') or '0')
    if now < at then return {at - now, 'open'} end
    if not redis.call('SET', probe_key, owner, 'NX', 'PX', probe_ms) then
      -- Another's probe is in flight: look again soon for what it learned.
      return {math.min(math.max(redis.call('PTTL', probe_key), 100), 1000), 'open'}
    end
    probe = 1
  end
  local until_ = tonumber(redis.call('HGET', f, 'until') or '0')
  if now < until_ then
    if probe == 1 then redis.call('DEL', probe_key) end
    return {until_ - now, 'paced'}
  end
  local limit = tonumber(redis.call('HGET', f, 'limit') or '0')
  if limit > 0 then
    local reset_at = tonumber(redis.call('HGET', f, 'reset_at') or '0')
    local remaining = tonumber(redis.call('HGET', f, 'remaining') or '0')
    if now >= reset_at then
      -- A new window, full again; it ends one window after the last known end.
      local window = tonumber(redis.call('HGET', f, 'window') or '1000')
      reset_at = reset_at + window * (math.floor((now - reset_at) / window) + 1)
      remaining = limit
    end
    if remaining <= 0 then
      redis.call('HSET', f, 'reset_at', reset_at, 'remaining', 0)
      if probe == 1 then redis.call('DEL', probe_key) end
      return {math.max(reset_at - now, 1), 'paced'}
    end
    redis.call('HSET', f, 'reset_at', reset_at, 'remaining', remaining - 1)
  end
  if cap ~= '' then
    local second = math.floor(now / 1000)
    if tonumber(redis.call('HGET', f, 'cap_second') or '-1') ~= second then
      redis.call('HSET', f, 'cap_second', second, 'cap_used', 0)
    end
    if tonumber(redis.call('HGET', f, 'cap_used')) >= tonumber(cap) then
      if probe == 1 then redis.call('DEL', probe_key) end
      return {(second + 1) * 1000 - now, 'capped'}
    end
    redis.call('HINCRBY', f, 'cap_used', 1)
  end
  redis.call('EXPIRE', f, ttl)
  if probe == 1 then return {0, 'probe'} end
  return {0, 'go'}
end
