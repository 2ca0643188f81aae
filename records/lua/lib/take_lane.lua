-- take_lane: the lane as drain `drain` sees it, taking (or renewing) the lane's lease for the
-- run `owner`. The take script runs it, and the append script too, for an event task that
-- becomes its lane's drain.
-- Guard: `drain` is the lane's drain. A stale drain's message is complete in the same step that
-- says it is stale (its id may become the lane's drain again later, as an event task's
-- redelivery does: it is journaled anew then).
-- Effect: the lease held by `owner` for `lease_ms`; the lane no longer `waiting` (running now:
-- a wake, a created or an end, must not install a second drain beside this one). A waiting
-- member whose item is gone (evicted, or deleted by hand) is taken out of the queue and counted
-- (`missing_counter` in `metrics`); a second member for one item is taken out too.
-- Answers: {'stale'}: not this drain's lane; {'busy', ms}: another run holds the lease, for ms
-- more; {'ok', the state hash as HGETALL gives it (its exactly-once records left out), the
-- waiting members among the first `limit` in lane order, their items, the action ids of the
-- members whose item was gone}.
--! include lib/members.lua
--! include lib/once.lua

local function take_lane(state, q, items, lease, journal, since, metrics, drain, owner, lease_ms,
                         limit, missing_counter)
  if redis.call('HGET', state, 'drain') ~= drain then
    redis.call('HDEL', journal, drain)
    redis.call('ZREM', since, drain)
    return {'stale'}
  end
  if not redis.call('SET', lease, owner, 'NX', 'PX', lease_ms) then
    if redis.call('GET', lease) ~= owner then return {'busy', redis.call('PTTL', lease)} end
    redis.call('PEXPIRE', lease, lease_ms)
  end
  redis.call('HDEL', state, 'waiting')
  local members = redis.call('ZRANGE', q, 0, tonumber(limit) - 1)
  local found, values, missing = {}, {}, {}
  if #members > 0 then
    local ids = {}
    for i, m in ipairs(members) do ids[i] = member_id(m) end
    local stored = redis.call('HMGET', items, unpack(ids))
    local seen = {}
    for i, m in ipairs(members) do
      if seen[ids[i]] then
        -- A second member for one item: its event came again after the item had gone (and
        -- was stored anew). One member is enough.
        redis.call('ZREM', q, m)
      elseif stored[i] then
        seen[ids[i]] = true
        found[#found + 1] = m
        values[#values + 1] = stored[i]
      else
        -- Its item is gone (evicted, or deleted by hand): nothing can be sent for it, and a
        -- member left behind would keep the lane handing off for ever.
        redis.call('ZREM', q, m)
        redis.call('HINCRBY', metrics, missing_counter, 1)
        missing[#missing + 1] = ids[i]
      end
    end
  end
  return {'ok', lane_fields(state), found, values, missing}
end
