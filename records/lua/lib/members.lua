-- A lane queue's member: the item's arrival number in its lane, in 12 digits (so that members
-- of equal score sort by arrival), ':' and its action id. records/lane_answers.py's member_id reads
-- them the same way.

local function queue_member(seq, id)
  return string.format('%012d', seq) .. ':' .. id
end

local function member_id(member)
  return string.sub(member, string.find(member, ':', 1, true) + 1)
end
