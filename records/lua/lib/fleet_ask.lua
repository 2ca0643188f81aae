-- fleet_ask: whether a command may go now, taking a place in the fleet's pace if so
-- (records/fleet.py). The fleet/ask script runs it, and the pin script too, so that a lane's
-- command asks the fleet in the round trip that pins it.
-- k: the keys, by name: fleet (hash), probe (the probe's lease), fleet_sent (sorted set: the
-- sends of the last window, by when), fleet_queue (sorted set: the commands waiting, in the
-- order they go), fleet_due (sorted set: when each waiting one is to ask again, at the latest),
-- fleet_since (hash: since when each has waited), metrics.
-- a: the arguments, by name: now (ms; '': Redis's clock, the one every decision uses; tests
-- give a fixed one), owner, ticket (the command's place in the queue; '': it takes none, an
-- extra request of a command already going), class (0 goes first), since (ms: the command's
-- event; '': now), cap (commands a second, '' none), start (commands a second while Telnyx's
-- limit is not known), probe_ms, ttl (s), grace_ms (how late past its due time a waiting one
-- may ask again before it loses its place), margin_ms (added to each window: a send counted in one window
-- by us must not arrive in the next by Telnyx's).
-- Guard: an open circuit lets one probe go at a time, once its interval has passed; a pause
-- after a 429 holds every command until it ends; then a command goes when the sends of the
-- last window leave room for it and for every command waiting ahead of it that is due to ask
-- by now (commands of a lower class wait while any of a higher one waits); Telnyx's limit a window, or `start` a
-- second before it is known; the cap, `cap` in any second.
-- Effect: going, it is counted in fleet_sent (and leaves the queue, its wait counted by class);
-- waiting, it keeps (or takes) its place in the queue until its due time.
-- Answers: {0, 'go' or 'probe', now, 0}; else {ms to wait, why, now, commands ahead}: why is
-- 'open' (Telnyx is down), 'paced' (its rate limit) or 'capped' (ours).
--! include lib/clock.lua

-- A class's span of queue scores: a time in ms since the epoch fits under it.
local FLEET_CLASS = 1e13
local FLEET_CLASS_NAMES = {[0] = 'first', [1] = 'normal'}

-- When the n-th (from 1) of the sends counted in the window since `from` leaves it (`span`
-- after it went), or nil when fewer were sent.
local function fleet_leaves(sent, from, span, n)
  if n < 1 then return nil end
  local got = redis.call('ZRANGEBYSCORE', sent, '(' .. from, '+inf', 'WITHSCORES',
                         'LIMIT', n - 1, 1)
  if #got == 0 then return nil end
  return tonumber(got[2]) + span
end

-- How long until `need` commands fit under `limit` sends a `span`, `used` being counted in
-- it now: each send leaves room when it leaves the window; the sends made in that room leave
-- room in turn a window later.
local function fleet_room_in(sent, now, span, limit, used, need)
  if limit <= 0 then return span end
  local free = math.max(limit - used, 0)
  local j = need - free
  if j <= 0 then return 0 end
  local excess = math.max(used - limit, 0)  -- (sends over the limit leave no room as they go)
  local counted = used - excess
  local windows = 0
  if j > counted then
    windows = math.ceil((j - counted) / limit)
    j = j - windows * limit
  end
  local at = fleet_leaves(sent, now - span, span, j + excess)
  if at == nil then at = now end
  return math.max(at - now, 1) + windows * span
end

-- Count a send at `now` in the window's log (`sent`), kept `kept` ms. (Named by its time and
-- how many went at that time: unique while it is counted, whatever else was lost.)
local function fleet_count(sent, now, owner, kept)
  local same = redis.call('ZCOUNT', sent, now, now)
  redis.call('ZADD', sent, now, now .. ':' .. same .. ':' .. owner)
  redis.call('PEXPIRE', sent, kept)
end

local function fleet_ask(k, a)
  local f = k.fleet
  local now = redis_ms_or(a.now)
  local probe = false
  if redis.call('HGET', f, 'state') == 'open' then
    local at = tonumber(redis.call('HGET', f, 'probe_at') or '0')
    if now < at then return {at - now, 'open', now, 0} end
    if not redis.call('SET', k.probe, a.owner, 'NX', 'PX', a.probe_ms) then
      -- Another's probe is in flight: look again soon for what it learned.
      return {math.min(math.max(redis.call('PTTL', k.probe), 100), 1000), 'open', now, 0}
    end
    probe = true
  end
  local until_ = tonumber(redis.call('HGET', f, 'until') or '0')
  if now < until_ then
    if probe then redis.call('DEL', k.probe) end
    return {until_ - now, 'paced', now, 0}
  end
  -- The window: Telnyx's limit and its length, as learned; `start` a second till then.
  local limit = tonumber(redis.call('HGET', f, 'limit') or '0')
  local window = tonumber(redis.call('HGET', f, 'window') or '0')
  if limit <= 0 then limit, window = tonumber(a.start), 1000 end
  if window < 1000 then window = 1000 end
  local margin = tonumber(a.margin_ms)
  local span = window + margin
  local kept = math.max(span, 1000 + margin)
  redis.call('ZREMRANGEBYSCORE', k.fleet_sent, '-inf', '(' .. (now - kept))
  local used = redis.call('ZCOUNT', k.fleet_sent, '(' .. (now - span), '+inf')
  -- The queue: waiting ones that did not ask again in time lose their place.
  local grace = tonumber(a.grace_ms)
  local lapsed = redis.call('ZRANGEBYSCORE', k.fleet_due, '-inf', '(' .. (now - grace),
                            'LIMIT', 0, 200)
  if #lapsed > 0 then
    redis.call('ZREM', k.fleet_queue, unpack(lapsed))
    redis.call('ZREM', k.fleet_due, unpack(lapsed))
    redis.call('HDEL', k.fleet_since, unpack(lapsed))
  end
  -- Who is ahead: every waiting command (an extra request, without a ticket, goes only when
  -- nobody waits); for a command with a ticket, those of its class or a higher one, older
  -- than it. Room is kept for those of them due to ask by now; those asked to come back later
  -- leave it to whoever can use it now (they go first when they are back).
  local ahead, present, higher, score, class = 0, 0, 0, nil, nil
  if not probe then
    if a.ticket == '' then
      ahead = redis.call('ZCARD', k.fleet_queue)
      present = ahead
    else
      class = tonumber(a.class)
      local mine = redis.call('ZSCORE', k.fleet_queue, a.ticket)
      if mine then
        mine = tonumber(mine)
      else
        score = class * FLEET_CLASS + (a.since ~= '' and tonumber(a.since) or now)
        mine = score
      end
      ahead = redis.call('ZCOUNT', k.fleet_queue, '-inf', '(' .. mine)
      if ahead > 0 then
        local due = redis.call('ZRANGEBYSCORE', k.fleet_due, '-inf', now, 'LIMIT', 0, 500)
        for _, other in ipairs(due) do
          local theirs = redis.call('ZSCORE', k.fleet_queue, other)
          if theirs and tonumber(theirs) < mine then present = present + 1 end
        end
      end
      if class > 0 then
        higher = redis.call('ZCOUNT', k.fleet_queue, '-inf', '(' .. (class * FLEET_CLASS))
      end
    end
  end
  -- Room now for this one and those ahead due by now? Else, the wait for room for it and all
  -- those ahead: under Telnyx's limit, and under our cap.
  local function wait_under(window_ms, most, counted)
    if fleet_room_in(k.fleet_sent, now, window_ms, most, counted, present + 1) <= 0 then
      return 0
    end
    return fleet_room_in(k.fleet_sent, now, window_ms, most, counted, ahead + 1)
  end
  local wait = wait_under(span, limit, used)
  local why = 'paced'
  if a.cap ~= '' then
    local in_second = redis.call('ZCOUNT', k.fleet_sent, '(' .. (now - 1000), '+inf')
    local capped = wait_under(1000, tonumber(a.cap), in_second)
    if capped > wait then wait, why = capped, 'capped' end
  end
  if wait <= 0 and higher > 0 then
    -- Room, but a command of a higher class waits for it: it goes first.
    wait = 100
  end
  if wait > 0 then
    if probe then redis.call('DEL', k.probe) end
    if a.ticket ~= '' and not probe then
      if score then
        redis.call('ZADD', k.fleet_queue, score, a.ticket)
        redis.call('HSET', k.fleet_since, a.ticket, now)
      end
      redis.call('ZADD', k.fleet_due, now + wait, a.ticket)
      for _, key in ipairs({k.fleet_queue, k.fleet_due, k.fleet_since}) do
        redis.call('EXPIRE', key, a.ttl)
      end
    end
    return {wait, why, now, ahead}
  end
  fleet_count(k.fleet_sent, now, a.owner, kept)
  if a.ticket ~= '' and not score and not probe then
    local since = redis.call('HGET', k.fleet_since, a.ticket)
    if since then
      local name = FLEET_CLASS_NAMES[class] or tostring(class)
      redis.call('HINCRBY', k.metrics, 'telnyx_pace_waits_total{priority="' .. name .. '"}', 1)
      redis.call('HINCRBYFLOAT', k.metrics,
                 'telnyx_pace_wait_seconds_total{priority="' .. name .. '"}',
                 (now - tonumber(since)) / 1000)
    end
    redis.call('ZREM', k.fleet_queue, a.ticket)
    redis.call('ZREM', k.fleet_due, a.ticket)
    redis.call('HDEL', k.fleet_since, a.ticket)
  end
  redis.call('EXPIRE', f, a.ttl)
  if probe then return {0, 'probe', now, 0} end
  return {0, 'go', now, 0}
end
