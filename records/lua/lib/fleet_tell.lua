-- fleet_tell: the fleet learns from Telnyx's answer to one command (records/fleet.py). The
-- fleet/tell script runs it, and the settle script too, so that a lane's command tells the
-- fleet in the round trip that settles it.
-- k: the keys, by name: fleet (hash), probe (the probe's lease), metrics.
-- a: the arguments, by name: now (ms; '': Redis's clock), outcome (answered, limited: a 429,
-- or failed: a 5xx, a timeout), limit, reset (s), retry_after (s): Telnyx's headers, '' where
-- it said nothing; sent (ms by Redis's clock: when the fleet let the command go; '' not known),
-- owner, ttl (s), failures (in a row, to open the circuit), first_probe_ms, longest_probe_ms,
-- margin_ms (as fleet_ask's).
-- Effect: Telnyx's limit a window and the window's length (the longest reset it has given,
-- in whole seconds, at least one); not x-ratelimit-remaining: the fleet's own count of what it
-- sent in the window holds those still in flight, which Telnyx's count cannot. A 429 pauses the
-- fleet until its Retry-After or reset (at least a second), unless its answer came back more
-- than a window after the command went (a slow or stalled worker's: the window it speaks of is
-- over). A failure counts towards opening the circuit (or, the probe's, puts the next probe off
-- twice as long); any other answer closes it, and then the limit is learned again from the
-- answers after it: until then the fleet sends at its start rate (no herd of waiting commands
-- on a service that has just come back). The owner's probe lease is given up.
-- Answers: 'opened' or 'closed' when the circuit changed, else ''.
--! include lib/clock.lua

local function fleet_tell(k, a)
  local f = k.fleet
  local now = redis_ms_or(a.now)
  local state = redis.call('HGET', f, 'state')
  local changed = ''
  if a.outcome == 'failed' then
    if state == 'open' then
      -- Only the probe's failure puts the next probe off (not those in flight when it opened).
      if redis.call('GET', k.probe) ~= a.owner then return '' end
      local interval = tonumber(redis.call('HGET', f, 'interval') or '1000') * 2
      interval = math.min(interval, tonumber(a.longest_probe_ms))
      redis.call('HSET', f, 'interval', interval, 'probe_at', now + interval)
    else
      local run = redis.call('HINCRBY', f, 'failures', 1)
      if run >= tonumber(a.failures) then
        local first = tonumber(a.first_probe_ms)
        redis.call('HSET', f, 'state', 'open', 'opened_at', now, 'interval', first,
                   'probe_at', now + first)
        redis.call('HINCRBY', k.metrics, 'telnyx_circuit_opened_total', 1)
        changed = 'opened'
      end
    end
  else
    if state == 'open' then
      local opened = tonumber(redis.call('HGET', f, 'opened_at') or now)
      redis.call('HINCRBYFLOAT', k.metrics, 'telnyx_circuit_open_seconds_total',
                 (now - opened) / 1000)
      redis.call('HDEL', f, 'state', 'opened_at', 'interval', 'probe_at', 'limit', 'window')
      changed = 'closed'
    end
    redis.call('HSET', f, 'failures', 0)
  end
  if changed ~= 'closed' then
    if a.limit ~= '' and tonumber(a.limit) and tonumber(a.limit) > 0 then
      redis.call('HSET', f, 'limit', math.floor(tonumber(a.limit)))
    end
    local reset = tonumber(a.reset ~= '' and a.reset or '0') or 0
    if reset > 0 then
      local learned = math.min(math.ceil(reset), 3600) * 1000
      local window = tonumber(redis.call('HGET', f, 'window') or '0')
      if learned > window then redis.call('HSET', f, 'window', learned) end
    end
  end
  if a.outcome == 'limited' then
    redis.call('HINCRBY', k.metrics, 'telnyx_rate_limited_total', 1)
    local window = math.max(tonumber(redis.call('HGET', f, 'window') or '0'), 1000)
    local fresh = a.sent == '' or now - tonumber(a.sent) <= window + tonumber(a.margin_ms)
    if fresh then
      local wait = math.max(tonumber(a.retry_after ~= '' and a.retry_after or '0') or 0,
                            tonumber(a.reset ~= '' and a.reset or '0') or 0, 1)
      local until_ = now + math.floor(math.min(wait, 3600) * 1000)
      if until_ > tonumber(redis.call('HGET', f, 'until') or '0') then
        redis.call('HSET', f, 'until', until_)
      end
    end
  end
  if redis.call('GET', k.probe) == a.owner then redis.call('DEL', k.probe) end
  redis.call('EXPIRE', f, a.ttl)
  return changed
end
