-- The fence every change to a lane by a drain's run goes through (docs/lanes.md): the run
-- `owner` holds the lane while the lane's lease is its own and the lane's drain is `drain_id`.

local function holds_lane(state, lease, drain_id, owner)
  return redis.call('GET', lease) == owner and redis.call('HGET', state, 'drain') == drain_id
end
