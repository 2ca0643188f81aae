-- fleet_tell: the fleet learns from Telnyx's answer to one command (records/fleet.py). The
-- fleet/tell script runs it, and the settle script too, so that a lane's command tells the
-- fleet in the round trip that settles it.
-- f, probe_key, metrics: the fleet hash, the probe lease, the metrics hash; now (ms, a
-- number); outcome: answered, limited (429) or failed (5xx, a timeout); limit, remaining,
-- reset (s), retry_after (s): Telnyx's headers, '' where it said nothing; owner; ttl (s): the
-- fleet hash's expiry; failures: failures in a row that open the circuit; first_ms: the first
-- probe after opening; longest_ms: the longest interval between probes.
-- Effect: Telnyx's rate window as it says (an answer from a window already over says nothing
-- of this one); a 429 pauses the fleet until its Retry-After or reset; a failure counts
-- towards opening the circuit (or, the probe's, puts the next probe off twice as long); any
-- other answer closes it. The owner's probe lease is given up.
-- Answers: 'opened' or 'closed' when the circuit changed, else ''.

local function fleet_tell(f, probe_key, metrics, now, outcome, limit, remaining, reset,
                          retry_after, owner, ttl, failures, first_ms, longest_ms)
  if limit ~= '' and reset ~= '' then
    local limit_n, reset_at = tonumber(limit), now + math.floor(tonumber(reset) * 1000)
    local remaining_n = tonumber(remaining ~= '' and remaining or limit)
    local known_end = tonumber(redis.call('HGET', f, 'reset_at') or '0')
    -- (An answer from a window already over, still in flight at its end, says nothing of this one.)
    if reset_at >= known_end - 250 then
      if math.abs(known_end - reset_at) < 250 then
        -- The window we count in: Telnyx's count is the truth, ours also holds those in flight.
        local counted = tonumber(redis.call('HGET', f, 'remaining') or remaining_n)
        remaining_n = math.min(remaining_n, counted)
        reset_at = known_end
      end
      local window = math.max(tonumber(redis.call('HGET', f, 'window') or '0'), reset_at - now)
      redis.call('HSET', f, 'limit', limit_n, 'remaining', remaining_n, 'reset_at', reset_at,
                 'window', math.max(window, 1000))
    end
  end
  if outcome == 'limited' then
    local wait = math.max(tonumber(retry_after ~= '' and retry_after or '0'),
                          tonumber(reset ~= '' and reset or '0'), 1)
    redis.call('HSET', f, 'until', now + math.floor(wait * 1000), 'remaining', 0)
    redis.call('HINCRBY', metrics, 'telnyx_rate_limited_total', 1)
  end
  local state = redis.call('HGET', f, 'state')
  local changed = ''
  if outcome == 'failed' then
    if state == 'open' then
      -- Only the probe's failure puts the next probe off (not those in flight when it opened).
      if redis.call('GET', probe_key) ~= owner then return '' end
      local interval = tonumber(redis.call('HGET', f, 'interval') or '1000') * 2
      interval = math.min(interval, tonumber(longest_ms))
      redis.call('HSET', f, 'interval', interval, 'probe_at', now + interval)
    else
      local run = redis.call('HINCRBY', f, 'failures', 1)
      if run >= tonumber(failures) then
        local first = tonumber(first_ms)
        redis.call('HSET', f, 'state', 'open', 'opened_at', now, 'interval', first,
                   'probe_at', now + first)
        redis.call('HINCRBY', metrics, 'telnyx_circuit_opened_total', 1)
        changed = 'opened'
      end
    end
  else
    if state == 'open' then
      local opened = tonumber(redis.call('HGET', f, 'opened_at') or now)
      redis.call('HINCRBYFLOAT', metrics, 'telnyx_circuit_open_seconds_total',
                 (now - opened) / 1000)
      redis.call('HDEL', f, 'state', 'opened_at', 'interval', 'probe_at')
      changed = 'closed'
    end
    redis.call('HSET', f, 'failures', 0)
  end
  if redis.call('GET', probe_key) == owner then redis.call('DEL', probe_key) end
  redis.call('EXPIRE', f, ttl)
  return changed
end
