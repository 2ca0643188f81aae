-- take_lane: the lane as drain `drain` sees it, taking (or renewing) the lane's lease for the
-- run `owner`. The take script runs it, and the append script too, for an event task that
-- becomes its lane's drain.
-- Guard: `drain` is the lane's drain. A stale drain's message is complete in the same step
-- that says it is stale (its id may become the lane's drain again later, as an event task's
-- redelivery does: it is journaled anew then).
-- Effect: the lease held by `owner` for `lease_ms`; the lane no longer `waiting` (running
-- now: a wake, a created or an end, must not install a second drain beside this one).
-- Answers: {'stale'}: not this drain's lane; {'busy', ms}: another run holds the lease, for
-- ms more; {'ok', the state hash as HGETALL gives it, the first `limit` waiting members in
-- lane order, their items (none for one whose hash expired apart from its queue)}.
--! include lib/members.lua

local function take_lane(state, q, items, lease, journal, since, drain, owner, lease_ms, limit)
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
  local values = {}
  if #members > 0 then
    local ids = {}
    for i, m in ipairs(members) do ids[i] = member_id(m) end
    values = redis.call('HMGET', items, unpack(ids))
  end
  return {'ok', redis.call('HGETALL', state), members, values}
end
