"""Each conference's lane in Redis: its waiting follow-ups, what is known of the conference,
and which drain task may send its commands.

Keys, for conference C (all expire after the ledger's done TTL without a write):
- `tcw:lane:C` (hash): `first` (ms), `created`, `ended`, `left:<call_control_id>` (us),
  `announced` (ms, the last announcement), `seq` (arrival counter), `drain` (the task id of the
  one drain task allowed to act; set while there is work), `waiting` (that task is a delayed one
  that has not started: a created or an end may replace it with one that runs now), `inflight`
  (the command being sent, fixed before it is sent, so a re-run resends exactly it), `batch` (its
  id), `attempts` (its failed attempts so far).
- `tcw:lane:C:q` (sorted set): waiting items, by score (followups/lanes.py), then arrival
  (members are `<12-digit arrival number>:<action id>`, and equal scores sort by member).
- `tcw:lane:C:items` (hash): action id -> item, until the item is done or dropped.
- `tcw:lane:C:lease`: the run of the drain acting now (a token of its own, not the drain id:
  two copies of one drain message are two runs); lapses if its worker dies or stalls.

Every change is one Lua script, and the drain message is queued and journaled in the same
script that makes it the lane's drain, so at any moment a lane with work has exactly one drain
task, recoverable by the journal like any other message. Every script a drain runs checks that
its run holds the lease (a fencing token): a run that outlived its lease changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from core.naming import KEY_PREFIX, QUEUE
from records.fleet import ASK_FUNCTION as FLEET_ASK
from records.fleet import TELL_FUNCTION as FLEET_TELL
from records.fleet import Answer, Fleet, Go
from records.journal import JOURNAL, SINCE
from records.ledger import claim_key, done_key
from records.metrics import LATENCY, METRICS, latency_fields
from records.replication import PRIMARY_ONLY, Replication
from records.replies import text

# How many waiting items one look reads: enough to merge a crowd's announcements.
LOOK_LIMIT = 500

# state, q, items, lease, journal, since: keys; drain id, owner, lease ms, limit.
# A stale drain's message is complete in the same step that says it is stale (its id may become
# the lane's drain again later, as an event task's redelivery does: it is journaled anew then).
# A function: the append script runs it too, for an event task that becomes its lane's drain.
_LOOK_FUNCTION = """
local function look(state, q, items, lease, journal, since, drain, owner, lease_ms, limit)
  if redis.call('HGET', state, 'drain') ~= drain then
    redis.call('HDEL', journal, drain)
    redis.call('ZREM', since, drain)
    return {'stale'}
  end
  if not redis.call('SET', lease, owner, 'NX', 'PX', lease_ms) then
    if redis.call('GET', lease) ~= owner then return {'busy', redis.call('PTTL', lease)} end
    redis.call('PEXPIRE', lease, lease_ms)
  end
  -- Running now: a wake (a created, an end) must not install a second drain beside this one.
  redis.call('HDEL', state, 'waiting')
  local members = redis.call('ZRANGE', q, 0, tonumber(limit) - 1)
  local values = {}
  if #members > 0 then
    local ids = {}
    for i, m in ipairs(members) do ids[i] = string.sub(m, 14) end
    values = redis.call('HMGET', items, unpack(ids))
  end
  return {'ok', redis.call('HGETALL', state), members, values}
end
"""
_LOOK = _LOOK_FUNCTION + (
    "return look(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3],"
    " ARGV[4])"
)

# KEYS: state, q, items, queue, journal, since, lease, done key of each item;
# ARGV: now ms, ttl s, event type, left call_control_id or '', left ms, drain id, drain message,
# now s, inline '1'/'0', owner or '', lease ms, look limit, the caller's own message id or '',
# then (action id, score, item) per item. Returns {added, scheduled, whether the lane's drain is
# this one (scheduled now, or by an earlier run of the caller), and with an owner, when it is:
# the lane as look() returns it, the lease taken for that owner}.
# Inline: the drain message is journaled but not queued: the caller runs the drain itself, and
# the journal queues the message if the caller dies first.
# The caller's own message (the event task's) is complete in the same step: its follow-ups are
# in the lane now, and the lane has a drain whose message is journaled.
_APPEND = (
    _LOOK_FUNCTION
    + """
local state, q, items = KEYS[1], KEYS[2], KEYS[3]
redis.call('HSETNX', state, 'first', ARGV[1])
local wake = false
if ARGV[3] == 'conference.created' then
  redis.call('HSET', state, 'created', '1')
  wake = true
elseif ARGV[3] == 'conference.ended' then
  redis.call('HSET', state, 'ended', '1')
  wake = true
end
if ARGV[4] ~= '' then
  local f = 'left:' .. ARGV[4]
  if tonumber(ARGV[5]) > tonumber(redis.call('HGET', state, f) or '-1') then
    redis.call('HSET', state, f, ARGV[5])
  end
end
local added = 0
for i = 0, (#ARGV - 13) / 3 - 1 do
  local id = ARGV[14 + 3 * i]
  if redis.call('EXISTS', KEYS[8 + i]) == 0
      and redis.call('HSETNX', items, id, ARGV[16 + 3 * i]) == 1 then
    local seq = redis.call('HINCRBY', state, 'seq', 1)
    redis.call('ZADD', q, ARGV[15 + 3 * i], string.format('%012d', seq) .. ':' .. id)
    added = added + 1
  end
end
local drain = redis.call('HGET', state, 'drain')
local scheduled = 0
-- A lane with work gets a drain; a drain waiting for a created (or spacing announcements) is
-- replaced by one that runs now when the created or the end arrives.
if (not drain and redis.call('ZCARD', q) > 0)
    or (drain and wake and redis.call('HGET', state, 'waiting') == '1') then
  redis.call('HSET', state, 'drain', ARGV[6])
  redis.call('HDEL', state, 'waiting')
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[6])
  if ARGV[9] ~= '1' then redis.call('LPUSH', KEYS[4], ARGV[7]) end
  scheduled = 1
end
redis.call('EXPIRE', state, ARGV[2])
redis.call('EXPIRE', q, ARGV[2])
redis.call('EXPIRE', items, ARGV[2])
if ARGV[13] ~= '' then
  redis.call('HDEL', KEYS[5], ARGV[13])
  redis.call('ZREM', KEYS[6], ARGV[13])
end
if redis.call('HGET', state, 'drain') ~= ARGV[6] then return {added, scheduled, 0} end
if ARGV[10] == '' then return {added, scheduled, 1} end
return {added, scheduled, 1,
        look(state, q, items, KEYS[7], KEYS[5], KEYS[6], ARGV[6], ARGV[10], ARGV[11], ARGV[12])}
"""
)

# Every script below that changes a lane is fenced: it acts only for the run that holds the
# lane's lease (`owner`, one per run of a drain) while the lane's drain is still that run's, and
# renews the lease as it does. A run that outlived its lease (a slow API call, a Redis stall) is
# told 'lost' and looks again; its writes never land beside those of the run that took over.

# KEYS: state, lease, queue, journal, since; ARGV: drain id, its message, when it is due (s).
# A copy of a drain that found another run holding the lane queues itself for when that lease
# ends, so a holder that dies is taken over then, not at the journal's sweep.
_REQUEUE = """
if redis.call('HGET', KEYS[1], 'drain') ~= ARGV[1] then
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  return 'stale'
end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'free' end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
return 'queued'
"""

# KEYS: state, q, claim of the command, lease, fleet, fleet probe; ARGV: drain id, inflight,
# owner, lease ms, batch id, ask '1'/'0', fleet_ask's five arguments (records/fleet.py), then
# the members taken out of the queue. Returns {1, wait ms, why}: fixed and claimed in the
# ledger, and (asking) the fleet's answer, {0 if not asking or it may go, else how long to
# wait, why}; {2, 0, ''}: fixed (another claim holds it); {0, 0, ''}: not fixed: the run does
# not hold the lane, a command is in flight already, or a member is no longer waiting (taken
# by a run that has since lost the lane): nothing is changed then.
_FIX = (
    FLEET_ASK
    + """
if redis.call('GET', KEYS[4]) ~= ARGV[3] or redis.call('HGET', KEYS[1], 'drain') ~= ARGV[1] then
  return {0, 0, ''}
end
if redis.call('HEXISTS', KEYS[1], 'inflight') == 1 then return {0, 0, ''} end
for i = 12, #ARGV do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then return {0, 0, ''} end
end
redis.call('PEXPIRE', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], 'inflight', ARGV[2], 'batch', ARGV[5])
for i = 12, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then return {2, 0, ''} end
if ARGV[6] ~= '1' then return {1, 0, ''} end
local go = fleet_ask(KEYS[5], KEYS[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10], ARGV[11])
return {1, go[1], go[2]}
"""
)

# KEYS: state, items, metrics, claim, q, lease, journal, since, fleet, fleet probe, then the
# done keys to set (the command's own first); ARGV: done ttl, announced field or '', now ms,
# ended '1'/'0', latency or '', drain id, owner, batch id, lease ms, tell '1'/'0', fleet_tell's
# eight arguments (records/fleet.py), item count n, n action ids, then the counters to
# increment. Telling, the fleet learns from Telnyx's answer first, whatever else happens. Only
# the command in flight is settled, once (running it again after a lost reply changes nothing
# more). If nothing waits, the lane goes idle and the drain's message is complete in the same
# step. Returns {idle, more, or lost (this run does not hold the lane); what fleet_tell said}.
_FINISH = (
    FLEET_TELL
    + """
local changed = ''
if ARGV[10] == '1' then
  changed = fleet_tell(KEYS[9], KEYS[10], KEYS[3], tonumber(ARGV[11]), ARGV[12], ARGV[13],
                       ARGV[14], ARGV[15], ARGV[16], ARGV[17], ARGV[18])
end
if redis.call('GET', KEYS[6]) ~= ARGV[7] or redis.call('HGET', KEYS[1], 'drain') ~= ARGV[6] then
  -- Telnyx accepted what this run sent all the same: record the command done, so the run
  -- that holds the lane finds it done instead of sending it again.
  if #KEYS >= 11 then redis.call('SET', KEYS[11], '1', 'EX', ARGV[1]) end
  if redis.call('GET', KEYS[4]) == ARGV[7] then redis.call('DEL', KEYS[4]) end
  return {'lost', changed}
end
local batch = redis.call('HGET', KEYS[1], 'batch')
if batch and batch ~= ARGV[8] then return {'lost', changed} end
if batch then
  redis.call('HDEL', KEYS[1], 'inflight', 'batch', 'attempts')
  for i = 11, #KEYS do redis.call('SET', KEYS[i], '1', 'EX', ARGV[1]) end
  if redis.call('GET', KEYS[4]) == ARGV[7] then redis.call('DEL', KEYS[4]) end
  local n = tonumber(ARGV[19])
  for i = 20, 19 + n do redis.call('HDEL', KEYS[2], ARGV[i]) end
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
  if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'ended', '1') end
  if ARGV[5] ~= '' then redis.call('HINCRBYFLOAT', KEYS[3], 'LATENCY_SUM', ARGV[5]) end
  for i = 20 + n, #ARGV do redis.call('HINCRBY', KEYS[3], ARGV[i], 1) end
end
if redis.call('ZCARD', KEYS[5]) == 0 then
  redis.call('HDEL', KEYS[1], 'drain', 'waiting')
  redis.call('DEL', KEYS[6])
  redis.call('HDEL', KEYS[7], ARGV[6])
  redis.call('ZREM', KEYS[8], ARGV[6])
  return {'idle', changed}
end
redis.call('PEXPIRE', KEYS[6], ARGV[9])
return {'more', changed}
"""
).replace("'LATENCY_SUM'", f"'{LATENCY}_sum'")

# KEYS: state, q, items, metrics, lease, then the done key of each dropped item;
# ARGV: drain id, owner, lease ms, done ttl, n, n members, n action ids, then the counters to
# increment. Returns 1 dropped, 0 not (the run does not hold the lane, or a member is no
# longer waiting: nothing is changed then).
_DROP = """
if redis.call('GET', KEYS[5]) ~= ARGV[2] or redis.call('HGET', KEYS[1], 'drain') ~= ARGV[1] then
  return 0
end
local n = tonumber(ARGV[5])
for i = 1, n do
  if not redis.call('ZSCORE', KEYS[2], ARGV[5 + i]) then return 0 end
end
redis.call('PEXPIRE', KEYS[5], ARGV[3])
for i = 1, n do
  redis.call('ZREM', KEYS[2], ARGV[5 + i])
  redis.call('HDEL', KEYS[3], ARGV[5 + n + i])
  redis.call('SET', KEYS[5 + i], 'moot', 'EX', ARGV[4])
end
for i = 6 + 2 * n, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
return 1
"""

# KEYS: state, q, lease, queue, journal, since; ARGV: drain id, owner, next drain id, its
# message, when it is due (s), waiting '1'/'0', a failed attempt to count '1'/'0', waiting for
# the created '1'/'0'. The drain's own message is complete; the lane goes idle, or to the next
# drain. Unless the drain meant to wait for a created that has arrived since it looked
# ('again': nothing changed, the drain looks again), or the run does not hold the lane ('lost':
# nothing changed; it looks again, and learns whether it is stale).
_HAND_OFF = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] or redis.call('HGET', KEYS[1], 'drain') ~= ARGV[1] then
  return 'lost'
end
if ARGV[8] == '1' and redis.call('HEXISTS', KEYS[1], 'created') == 1 then return 'again' end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('DEL', KEYS[3])
if redis.call('ZCARD', KEYS[2]) == 0 and redis.call('HEXISTS', KEYS[1], 'inflight') == 0 then
  redis.call('HDEL', KEYS[1], 'drain', 'waiting')
  return 'idle'
end
redis.call('HSET', KEYS[1], 'drain', ARGV[3])
if ARGV[7] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'waiting', '1')
else
  redis.call('HDEL', KEYS[1], 'waiting')
end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[3])
redis.call('LPUSH', KEYS[4], ARGV[4])
return 'next'
"""


@dataclass
class Look:
    """A lane as one drain run sees it: the state hash's fields, and the waiting items (their
    queue member and stored text) in lane order."""

    status: str  # ok, stale (not this drain's lane any more) or busy (another run holds it)
    busy_seconds: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[str, str]] = field(default_factory=list)


def member_id(member: str) -> str:
    """The action id in a queue member."""
    return member[13:]


class Lanes:
    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_seconds: float,
        done_ttl_seconds: int,
        queue: str = QUEUE,
        replication: Replication = PRIMARY_ONLY,
    ) -> None:
        self._redis = client
        self._lease_ms = int(lease_seconds * 1000)
        self._ttl = done_ttl_seconds
        self._queue = queue
        self._replication = replication
        self._append = client.register_script(_APPEND)
        self._look = client.register_script(_LOOK)
        self._requeue = client.register_script(_REQUEUE)
        self._fix = client.register_script(_FIX)
        self._finish = client.register_script(_FINISH)
        self._drop = client.register_script(_DROP)
        self._hand_off = client.register_script(_HAND_OFF)

    def append(
        self,
        conference_id: str,
        items: Sequence[tuple[str, int, str]],
        *,
        event_type: str,
        drain: tuple[str, bytes],
        left: tuple[str, int] | None = None,  # (call_control_id, when they left in us)
        now_ms: int | None = None,
        inline: bool = False,
    ) -> tuple[int, bool, bool]:
        """Add an event's follow-ups, as (action id, score, item) (those not done or waiting
        already), and what the event says of the conference; queue `drain` if the lane has no
        drain yet (`inline`: journaled only, for the caller to run). Returns how many were
        added, whether `drain` became the lane's drain now, and whether it is the lane's drain
        (now, or since an earlier call with the same drain id)."""
        answer = self._append_call(conference_id, items, event_type, drain, left, now_ms, inline)
        return int(answer[0]), bool(answer[1]), bool(answer[2])

    def append_and_look(
        self,
        conference_id: str,
        items: Sequence[tuple[str, int, str]],
        *,
        event_type: str,
        drain: tuple[str, bytes],
        owner: str,
        complete: str,
        left: tuple[str, int] | None = None,
        now_ms: int | None = None,
    ) -> tuple[int, Look | None]:
        """append(inline=True) for an event task, in the same step: its own message
        (`complete`, its task id) is complete in the journal, and when `drain` is the lane's
        drain, the lane as `look` returns it for the run `owner` (the lease taken). Returns how
        many were added, and that look (None: another drain has the lane).

        One round trip instead of three for an event whose lane was idle. With
        REDIS_MIN_REPLICAS, returns once replicas hold it (the event's message is acknowledged
        after this, if no drain follows)."""
        answer = self._append_call(
            conference_id, items, event_type, drain, left, now_ms, True, owner, complete
        )
        look = _look(answer[3]) if len(answer) > 3 else None
        return int(answer[0]), look

    def _append_call(
        self,
        conference_id: str,
        items: Sequence[tuple[str, int, str]],
        event_type: str,
        drain: tuple[str, bytes],
        left: tuple[str, int] | None,
        now_ms: int | None,
        inline: bool,
        owner: str = "",
        complete: str = "",
    ) -> Any:
        now = time.time()
        state, queue, items_key, lease = self._keys(conference_id)
        keys = [state, queue, items_key, self._queue, JOURNAL, SINCE, lease]
        keys += [done_key(action_id) for action_id, _, _ in items]
        args: list[Any] = [
            now_ms if now_ms is not None else int(now * 1000),
            self._ttl,
            event_type,
            left[0] if left else "",
            left[1] if left else 0,
            drain[0],
            drain[1],
            now,
            int(inline),
            owner,
            self._lease_ms,
            LOOK_LIMIT,
            complete,
        ]
        for entry in items:
            args += list(entry)
        if complete:
            # (It completes a message: with REDIS_MIN_REPLICAS, a WAIT follows.)
            return self._write(self._append, keys, args)
        return self._append(keys=keys, args=args)

    def look(self, conference_id: str, drain_id: str, owner: str) -> Look:
        """The lane as drain `drain_id` sees it, taking (or renewing) the lane's lease for the
        run `owner`. A stale drain's message is complete with the answer."""
        state, queue, items, lease = self._keys(conference_id)
        # With REDIS_MIN_REPLICAS, a WAIT after taking the lease: what this run acts on (a
        # command fixed by an earlier run, say) is then on the replicas too, so a failover
        # cannot make a later run decide differently about a command this one sends.
        return _look(
            self._write(
                self._look,
                [state, queue, items, lease, JOURNAL, SINCE],
                [drain_id, owner, self._lease_ms, LOOK_LIMIT],
            )
        )

    def requeue(self, conference_id: str, drain: tuple[str, bytes], due: float) -> str:
        """Queue drain `drain` (id, message) again, due at `due` (epoch s), for a copy that
        found another run holding the lane. Returns queued, stale (it is not the lane's drain
        any more: its message is complete) or free (the lease has just ended: look again)."""
        state, _, _, lease = self._keys(conference_id)
        keys = [state, lease, self._queue, JOURNAL, SINCE]
        return text(self._write(self._requeue, keys, [drain[0], drain[1], due]))

    def fix(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
    ) -> int:
        """Make `inflight` (command `batch_id`) the command being sent, taking its items
        (`members`) out of the queue, and claim it in the ledger for `owner`. Returns 1 fixed
        and claimed, 2 fixed but claimed by another, 0 not fixed (the run does not hold the
        lane, a command is in flight already, or a member is no longer waiting)."""
        return int(self._fix_call(conference_id, drain_id, batch_id, inflight, members, owner)[0])

    def fix_asking(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
        fleet: Fleet,
    ) -> tuple[int, Go | None]:
        """fix(), and once fixed and claimed, the fleet's ask (Fleet.ask) in the same step:
        whether the command may go now. The answer is None unless fix() would answer 1."""
        answer = self._fix_call(
            conference_id, drain_id, batch_id, inflight, members, owner, fleet.ask_args(owner)
        )
        fixed = int(answer[0])
        return fixed, Go.of(answer[1], answer[2]) if fixed == 1 else None

    def _fix_call(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
        ask: Sequence[str | int | float] = ("", "", "", "", ""),
    ) -> Any:
        state, queue, _, lease = self._keys(conference_id)
        # With REDIS_MIN_REPLICAS, on the replicas before it is sent: a failover must not lose
        # which events a command covers (a merge recomposed afterwards would repeat some).
        return self._write(
            self._fix,
            [state, queue, claim_key(batch_id), lease, *Fleet.KEYS],
            [drain_id, inflight, owner, self._lease_ms, batch_id, int(ask[0] != ""), *ask,
             *members],
        )  # fmt: skip

    def finish(
        self,
        conference_id: str,
        batch_id: str,
        action_ids: Sequence[str],
        *,
        drain: tuple[str, str],
        done: bool,
        counters: Sequence[str] = (),
        announced: bool = False,
        ended: bool = False,
        latency: float | None = None,
    ) -> str:
        """The inflight command `batch_id`, covering `action_ids`, is settled by the run
        `drain` (drain id, owner): sent (`done`: recorded done for every item it covered, so
        no redelivery repeats any of them), or dropped or dead-lettered. Returns idle (nothing
        else waits: the lane went idle and the drain's message is complete, in the same step),
        more, or lost (the run does not hold the lane: only a sent command's own done record
        is written). With REDIS_MIN_REPLICAS, returns once replicas hold it."""
        answer = self._finish_call(
            conference_id, batch_id, action_ids, drain, done, counters, announced, ended, latency
        )
        return text(answer[0])

    def finish_telling(
        self,
        conference_id: str,
        batch_id: str,
        action_ids: Sequence[str],
        *,
        drain: tuple[str, str],
        fleet: Fleet,
        answer: Answer,
        counters: Sequence[str] = (),
        announced: bool = False,
        latency: float | None = None,
    ) -> tuple[str, str]:
        """finish(done=True) for a command Telnyx accepted, telling the fleet its `answer`
        (Fleet.tell) in the same step. Returns finish()'s answer, and what Fleet.tell returns
        (opened, closed or '')."""
        tell = fleet.tell_args(drain[1], answer)
        reply = self._finish_call(
            conference_id, batch_id, action_ids, drain, True, counters, announced, False,
            latency, tell,
        )  # fmt: skip
        return text(reply[0]), text(reply[1])

    def _finish_call(
        self,
        conference_id: str,
        batch_id: str,
        action_ids: Sequence[str],
        drain: tuple[str, str],
        done: bool,
        counters: Sequence[str],
        announced: bool,
        ended: bool,
        latency: float | None,
        tell: Sequence[str | int | float] | None = None,
    ) -> Any:
        state, queue, items, lease = self._keys(conference_id)
        keys = [state, items, METRICS, claim_key(batch_id), queue, lease, JOURNAL, SINCE]
        keys += Fleet.KEYS
        if done:
            keys += [done_key(i) for i in dict.fromkeys([batch_id, *action_ids])]
        observed = [*counters, *(latency_fields(latency) if latency is not None else [])]
        args: list[Any] = [
            self._ttl,
            "announced" if announced else "",
            int(time.time() * 1000),
            "1" if ended else "0",
            latency if latency is not None else "",
            drain[0],
            drain[1],
            batch_id,
            self._lease_ms,
            "1" if tell is not None else "0",
            *(tell if tell is not None else [""] * 8),
            len(action_ids),
            *action_ids,
            *observed,
        ]
        return self._write(self._finish, keys, args)

    def drop(
        self,
        conference_id: str,
        drain_id: str,
        owner: str,
        members: Sequence[str],
        counters: Sequence[str],
    ) -> bool:
        """Take the items `members` out of the lane unsent, recorded so that no redelivery adds
        them back. False when nothing changed: the run does not hold the lane, or a member is
        no longer waiting."""
        state, queue, items, lease = self._keys(conference_id)
        ids = [member_id(m) for m in members]
        keys = [state, queue, items, METRICS, lease, *(done_key(i) for i in ids)]
        args: list[Any] = [
            drain_id,
            owner,
            self._lease_ms,
            self._ttl,
            len(ids),
            *members,
            *ids,
            *counters,
        ]
        return bool(self._write(self._drop, keys, args))

    def hand_off(
        self,
        conference_id: str,
        drain_id: str,
        owner: str,
        successor: tuple[str, bytes],
        *,
        delay: float = 0.0,
        waiting: bool = False,
        failed: bool = False,
        for_created: bool = False,
    ) -> str:
        """End drain `drain_id`'s run: its message is complete, and the lane goes idle, or to
        `successor` (queued, due in `delay` s). `failed`: the inflight command failed and will
        be tried again (counted in the state's `attempts`). `for_created`: the wait is for the
        conference's created; if it has arrived since the drain looked, nothing changes and the
        answer is again. Returns idle, next, again, or lost (the run does not hold the lane:
        nothing changed)."""
        state, queue, _, lease = self._keys(conference_id)
        keys = [state, queue, lease, self._queue, JOURNAL, SINCE]
        args = [
            drain_id,
            owner,
            successor[0],
            successor[1],
            time.time() + delay,
            int(waiting),
            int(failed),
            int(for_created),
        ]
        return text(self._write(self._hand_off, keys, args))

    def _write(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return self._replication.run_script(self._redis, script, keys, args)

    @staticmethod
    def _keys(conference_id: str) -> list[str]:
        base = f"{KEY_PREFIX}lane:{conference_id}"
        return [base, f"{base}:q", f"{base}:items", f"{base}:lease"]


def _look(answer: Any) -> Look:
    """A look script's answer as a Look."""
    status = text(answer[0])
    if status == "busy":
        return Look(status, busy_seconds=max(int(answer[1]), 0) / 1000)
    if status != "ok":
        return Look(status)
    raw = answer[1]
    look = Look("ok", fields={text(raw[i]): text(raw[i + 1]) for i in range(0, len(raw), 2)})
    for member, value in zip(answer[2], answer[3], strict=True):
        if value is not None:  # (None: an item whose hash expired apart from its queue)
            look.entries.append((text(member), text(value)))
    return look
