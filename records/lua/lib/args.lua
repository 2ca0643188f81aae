-- How a script's lists arrive. A header's names end with its lists (names written `name...`):
-- the last list of a side runs to the side's end, and every list before it is sent as its
-- length, then its items (records/scripts.py flattens them so).

-- The items of `t` from index `from` to its end.
local function tail(t, from)
  local items = {}
  for i = from, #t do items[#items + 1] = t[i] end
  return items
end

-- The `count` lists of `t` from index `from` on, each but the last preceded by its length.
local function lists(t, from, count)
  local found = {}
  for n = 1, count - 1 do
    local length = tonumber(t[from])
    local items = {}
    for i = 1, length do items[i] = t[from + i] end
    found[n] = items
    from = from + length + 1
  end
  found[count] = tail(t, from)
  return unpack(found)
end
