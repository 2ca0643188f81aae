"""Each conference's lane in Redis: its waiting follow-ups, what is known of the conference,
and which drain task may send its commands.

Keys, for conference C (all expire after the ledger's done TTL without a write):
- `tcw:lane:C` (hash): `first` (ms), `created`, `ended`, `left:<call_control_id>` (us),
  `announced` (ms, the last announcement), `seq` (arrival counter), `drain` (the task id of the
  one drain task allowed to act; set while there is work), `waiting` (that task is a delayed one
  that has not started: a created or an end may replace it with one that runs now), `inflight`
  (the command being sent, fixed before it is sent, so a re-run resends exactly it), `batch` (its
  id), `attempts` (its failed attempts so far).
- `tcw:lane:C:q` (sorted set): waiting items, by score (followups/lane_policy.py), then arrival
  (members are `<12-digit arrival number>:<action id>`, and equal scores sort by member).
- `tcw:lane:C:items` (hash): action id -> item, until the item is done or dropped.
- `tcw:lane:C:lease`: the run of the drain acting now (a token of its own, not the drain id:
  two copies of one drain message are two runs); lapses if its worker dies or stalls.

Every change is one Lua script (records/lua/lanes/, run through records/scripts.py), and the
drain message is queued and journaled in the same script that makes it the lane's drain, so at
any moment a lane with work has exactly one drain task, recoverable by the journal like any
other message. Every script a drain runs checks that its run holds the lease (a fencing token):
a run that outlived its lease changes nothing.

The protocol, its states and every script's answers: docs/lanes.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from core.naming import KEY_PREFIX, QUEUE
from records import scripts
from records.fleet import FLEET, PROBE, Answer, Fleet, Go
from records.journal import JOURNAL, SINCE
from records.ledger import claim_key, done_key
from records.metrics import LATENCY, METRICS, latency_fields
from records.replication import PRIMARY_ONLY, Replication
from records.replies import text

# How many waiting items one look reads: enough to merge a crowd's announcements.
LOOK_LIMIT = 500

_APPEND = scripts.load("lanes/append")
_TAKE = scripts.load("lanes/take")
# The scripts a drain's run changes its lane with are fenced: each acts only for the run that
# holds the lane's lease (`owner`, one per run of a drain) while the lane's drain is still that
# run's, and renews the lease as it does. A run that outlived its lease (a slow API call, a
# Redis stall) is told 'lost' and looks again; its writes never land beside those of the run
# that took over.
_REQUEUE = scripts.load("lanes/requeue")
_PIN = scripts.load("lanes/pin")
_SETTLE = scripts.load("lanes/settle")
_DROP = scripts.load("lanes/drop")
_HAND_OFF = scripts.load("lanes/hand_off")

# The fleet's arguments as the pin and settle scripts name them, for a call that does not ask
# (or tell) the fleet.
_NO_ASK = {f"ask_{name}": "" for name in scripts.load("fleet/ask").args}
_NO_TELL = {f"tell_{name}": "" for name in scripts.load("fleet/tell").args}
_LATENCY_SUM = f"{LATENCY}_sum"


@dataclass
class Look:
    """A lane as one drain run sees it: the state hash's fields, and the waiting items (their
    queue member and stored text) in lane order."""

    status: str  # ok, stale (not this drain's lane any more) or busy (another run holds it)
    busy_seconds: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[str, str]] = field(default_factory=list)


def member_id(member: str) -> str:
    """The action id in a queue member: a member is the item's arrival number in its lane
    (12 digits), ':' and its action id, as lib/members.lua writes it."""
    return member.partition(":")[2]


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
        keys = {
            "state": state,
            "q": queue,
            "items": items_key,
            "queue": self._queue,
            "journal": JOURNAL,
            "since": SINCE,
            "lease": lease,
            "done_keys": [done_key(action_id) for action_id, _, _ in items],
        }
        args = {
            "now_ms": now_ms if now_ms is not None else int(now * 1000),
            "ttl": self._ttl,
            "event_type": event_type,
            "left_call": left[0] if left else "",
            "left_us": left[1] if left else 0,
            "drain_id": drain[0],
            "drain_message": drain[1],
            "now_s": now,
            "inline": int(inline),
            "owner": owner,
            "lease_ms": self._lease_ms,
            "look_limit": LOOK_LIMIT,
            "complete": complete,
            "entries": [value for entry in items for value in entry],
        }
        if complete:
            # (It completes a message: with REDIS_MIN_REPLICAS, a WAIT follows.)
            return self._write(_APPEND, keys, args)
        return _APPEND.run(self._redis, keys, args)

    def look(self, conference_id: str, drain_id: str, owner: str) -> Look:
        """The lane as drain `drain_id` sees it, taking (or renewing) the lane's lease for the
        run `owner`. A stale drain's message is complete with the answer."""
        state, queue, items, lease = self._keys(conference_id)
        # With REDIS_MIN_REPLICAS, a WAIT after taking the lease: what this run acts on (a
        # command fixed by an earlier run, say) is then on the replicas too, so a failover
        # cannot make a later run decide differently about a command this one sends.
        keys = {
            "state": state,
            "q": queue,
            "items": items,
            "lease": lease,
            "journal": JOURNAL,
            "since": SINCE,
        }
        args = {
            "drain_id": drain_id,
            "owner": owner,
            "lease_ms": self._lease_ms,
            "look_limit": LOOK_LIMIT,
        }
        return _look(self._write(_TAKE, keys, args))

    def requeue(self, conference_id: str, drain: tuple[str, bytes], due: float) -> str:
        """Queue drain `drain` (id, message) again, due at `due` (epoch s), for a copy that
        found another run holding the lane. Returns queued, stale (it is not the lane's drain
        any more: its message is complete) or free (the lease has just ended: look again)."""
        state, _, _, lease = self._keys(conference_id)
        keys = {
            "state": state,
            "lease": lease,
            "queue": self._queue,
            "journal": JOURNAL,
            "since": SINCE,
        }
        args = {"drain_id": drain[0], "drain_message": drain[1], "due": due}
        return text(self._write(_REQUEUE, keys, args))

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
        ask: dict[str, str | int | float] | None = None,
    ) -> Any:
        state, queue, _, lease = self._keys(conference_id)
        keys = {
            "state": state,
            "q": queue,
            "claim": claim_key(batch_id),
            "lease": lease,
            "fleet": FLEET,
            "probe": PROBE,
        }
        args = {
            "drain_id": drain_id,
            "inflight": inflight,
            "owner": owner,
            "lease_ms": self._lease_ms,
            "batch_id": batch_id,
            "ask": int(ask is not None),
            **({f"ask_{name}": value for name, value in ask.items()} if ask else _NO_ASK),
            "members": members,
        }
        # With REDIS_MIN_REPLICAS, on the replicas before it is sent: a failover must not lose
        # which events a command covers (a merge recomposed afterwards would repeat some).
        return self._write(_PIN, keys, args)

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
        tell: dict[str, str | int | float] | None = None,
    ) -> Any:
        state, queue, items, lease = self._keys(conference_id)
        keys = {
            "state": state,
            "items": items,
            "metrics": METRICS,
            "claim": claim_key(batch_id),
            "q": queue,
            "lease": lease,
            "journal": JOURNAL,
            "since": SINCE,
            "fleet": FLEET,
            "probe": PROBE,
            # The command's own first: a run that lost the lane records only that one.
            "done_keys": (
                [done_key(i) for i in dict.fromkeys([batch_id, *action_ids])] if done else []
            ),
        }
        args = {
            "done_ttl": self._ttl,
            "announced_field": "announced" if announced else "",
            "now_ms": int(time.time() * 1000),
            "ended": "1" if ended else "0",
            "latency": latency if latency is not None else "",
            "latency_sum_field": _LATENCY_SUM,
            "drain_id": drain[0],
            "owner": drain[1],
            "batch_id": batch_id,
            "lease_ms": self._lease_ms,
            "tell": "1" if tell is not None else "0",
            **({f"tell_{name}": value for name, value in tell.items()} if tell else _NO_TELL),
            "action_ids": action_ids,
            "counters": [*counters, *(latency_fields(latency) if latency is not None else [])],
        }
        return self._write(_SETTLE, keys, args)

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
        keys = {
            "state": state,
            "q": queue,
            "items": items,
            "metrics": METRICS,
            "lease": lease,
            "done_keys": [done_key(i) for i in ids],
        }
        args = {
            "drain_id": drain_id,
            "owner": owner,
            "lease_ms": self._lease_ms,
            "done_ttl": self._ttl,
            "members": members,
            "action_ids": ids,
            "counters": counters,
        }
        return bool(self._write(_DROP, keys, args))

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
        keys = {
            "state": state,
            "q": queue,
            "lease": lease,
            "queue": self._queue,
            "journal": JOURNAL,
            "since": SINCE,
        }
        args = {
            "drain_id": drain_id,
            "owner": owner,
            "successor_id": successor[0],
            "successor_message": successor[1],
            "due": time.time() + delay,
            "waiting": int(waiting),
            "failed": int(failed),
            "for_created": int(for_created),
        }
        return text(self._write(_HAND_OFF, keys, args))

    def _write(self, script: scripts.Script, keys: dict[str, Any], args: dict[str, Any]) -> Any:
        return self._replication.run_script(self._redis, script, keys, args)

    @staticmethod
    def _keys(conference_id: str) -> list[str]:
        base = f"{KEY_PREFIX}lane:{conference_id}"
        return [base, f"{base}:q", f"{base}:items", f"{base}:lease"]


def _look(answer: Any) -> Look:
    """A take script's answer as a Look."""
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
