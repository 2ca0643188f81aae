"""Each conference's lane in Redis: its waiting follow-ups, what is known of the conference,
and which drain may send its commands; every change one fenced Lua script
(records/lua/lanes/, called through records/lane_scripts.py), every answer typed
(records/lane_answers.py).

The protocol, its keys, states and every script's guard, effect and answers: docs/lanes.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from records.deadletters import DeadLetter
from records.fleet import Answer, CircuitChange, Fleet, Go, Ticket
from records.lane_answers import (
    HandedOff,
    Marked,
    Pinned,
    Requeued,
    Settled,
    Taken,
    member_id,
    taken,
)
from records.lane_replay import LaneReplays
from records.lane_scripts import (
    APPEND,
    DROP,
    HAND_OFF,
    MARK_SENT,
    NO_ASK,
    NO_TELL,
    PIN,
    REQUEUE,
    SETTLE,
    TAKE,
)
from records.ledger import claim_key
from records.metrics import latency_fields
from records.once import done_key
from records.replies import text


class LaneStore(LaneReplays):
    """The lanes' records and the scripts that change them (docs/lanes.md, "The scripts")."""

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
        note: str = "",
    ) -> tuple[int, bool, bool]:
        """Add an event's follow-ups, as (action id, score, item) (those not done or waiting
        already), and what the event says of the conference; queue `drain` if the lane has no
        drain yet (`inline`: journaled only, for the caller to run). Returns how many were
        added, whether `drain` became the lane's drain now, and whether it is the lane's drain
        (now, or since an earlier call with the same drain id)."""
        answer = self._append_call(
            conference_id, items, event_type, drain, left, now_ms, inline, note=note
        )
        return int(answer[0]), bool(answer[1]), bool(answer[2])

    def append_and_take(
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
        note: str = "",
    ) -> tuple[int, Taken | None]:
        """append(inline=True) for an event task, in the same step: its own message
        (`complete`, its task id) is complete in the journal, and when `drain` is the lane's
        drain, the lane as `take` returns it for the run `owner` (the lease taken). Returns how
        many were added, and that take (None: another drain has the lane).

        One round trip instead of three for an event whose lane was idle. With
        REDIS_MIN_REPLICAS, returns once replicas hold it (the event's message is acknowledged
        after this, if no drain follows)."""
        answer = self._append_call(
            conference_id, items, event_type, drain, left, now_ms, True, owner, complete, note
        )
        return int(answer[0]), taken(answer[3]) if len(answer) > 3 else None

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
        note: str = "",
    ) -> Any:
        now = time.time()  # (the journal's, by this host's clock: records/journal.py)
        done_keys = [done_key(action_id) for action_id, _, _ in items]
        keys = self._keys(APPEND, conference_id, done_keys=done_keys)
        args = self._args(
            APPEND, now_ms=now_ms if now_ms is not None else int(self._clock() * 1000),
            event_type=event_type, left_call=left[0] if left else "",
            left_us=left[1] if left else 0, drain_id=drain[0], drain_message=drain[1],
            now_s=now, inline=int(inline), owner=owner, complete=complete, note=note,
            entries=[value for entry in items for value in entry],
        )  # fmt: skip
        if complete:
            # (It completes a message: with REDIS_MIN_REPLICAS, a WAIT follows.)
            return self._write(APPEND, keys, args)
        return APPEND.run(self._redis, keys, args)

    def take(self, conference_id: str, drain_id: str, owner: str) -> Taken:
        """Take the lane for the run `owner` of drain `drain_id` (its lease taken or renewed),
        and read it. A stale drain's message is complete with the answer."""
        # With REDIS_MIN_REPLICAS, a WAIT after taking the lease: what this run acts on (a
        # command pinned by an earlier run, say) is then on the replicas too, so a failover
        # cannot make a later run decide differently about a command this one sends.
        keys = self._keys(TAKE, conference_id)
        args = self._args(TAKE, drain_id=drain_id, owner=owner)
        return taken(self._write(TAKE, keys, args))

    def requeue(self, conference_id: str, drain: tuple[str, bytes], due: float) -> Requeued:
        """Queue drain `drain` (id, message) again, due at `due` (epoch s), for a copy that
        found another run holding the lane. Returns queued, stale (it is not the lane's drain
        any more: its message is complete) or free (the lease has just ended: take again)."""
        keys = self._keys(REQUEUE, conference_id)
        args = {"drain_id": drain[0], "drain_message": drain[1], "due": due}
        return Requeued(text(self._write(REQUEUE, keys, args)))

    def pin(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
        note: str = "",
    ) -> Pinned:
        """Pin `inflight` (command `batch_id`) as the command being sent, taking its items
        (`members`) out of the queue, and claim it in the ledger for `owner`."""
        answer = self._pin(conference_id, drain_id, batch_id, inflight, members, owner, note=note)
        return Pinned(int(answer[0]))

    def pin_and_ask(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
        fleet: Fleet,
        ticket: Ticket,
        send_token: str = "",
        note: str = "",
    ) -> tuple[Pinned, Go | None]:
        """pin(), and once pinned and claimed, the fleet's ask (Fleet.ask, with the command's
        `ticket`) in the same step: whether the command may go now; if it may, the lane records
        this send (`send_token`) as its first. The answer is None unless pin() would answer
        CLAIMED."""
        answer = self._pin(
            conference_id, drain_id, batch_id, inflight, members, owner,
            fleet.ask_args(owner, ticket), send_token, note,
        )  # fmt: skip
        pinned = Pinned(int(answer[0]))
        return pinned, Go.of(answer[1:5]) if pinned is Pinned.CLAIMED else None

    def _pin(
        self,
        conference_id: str,
        drain_id: str,
        batch_id: str,
        inflight: str,
        members: Sequence[str],
        owner: str,
        ask: dict[str, str | int | float] | None = None,
        send_token: str = "",
        note: str = "",
    ) -> Any:
        keys = self._keys(PIN, conference_id, claim=claim_key(batch_id), done=done_key(batch_id))
        asked = {f"ask_{name}": value for name, value in ask.items()} if ask else NO_ASK
        args = self._args(
            PIN, drain_id=drain_id, inflight=inflight, owner=owner, batch_id=batch_id,
            send_token=send_token, ask=int(ask is not None), members=members, note=note,
            **asked,
        )  # fmt: skip
        # With REDIS_MIN_REPLICAS, on the replicas before it is sent: a failover must not lose
        # which events a command covers (a merge recomposed afterwards would repeat some).
        return self._write(PIN, keys, args)

    def mark_sent(
        self, conference_id: str, drain_id: str, owner: str, send_token: str, window_s: float
    ) -> Marked | None:
        """Before the command in flight is sent (again), by Redis's clock: the lane's first
        send whose outcome is unknown (this one, `send_token`, when there is none), and whether
        `window_s` has passed since it. None when the run does not hold the lane."""
        keys = self._keys(MARK_SENT, conference_id)
        args = self._args(
            MARK_SENT, drain_id=drain_id, owner=owner, send_token=send_token,
            window_ms=int(window_s * 1000),
        )  # fmt: skip
        held, sent_at, own, past, now = self._write(MARK_SENT, keys, args)
        if not int(held):
            return None
        return Marked(int(sent_at), bool(int(own)), bool(int(past)), int(now))

    def settle(
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
        note: str = "",
    ) -> Settled:
        """The inflight command `batch_id`, covering `action_ids`, is settled by the run
        `drain` (drain id, owner): sent or moot (`done`: recorded done for every item it
        covered, so no redelivery repeats any of them), or not. Returns idle (nothing else
        waits: the lane went idle and the drain's message is complete, in the same step),
        more, or lost (the run does not hold the lane: nothing is written). With
        REDIS_MIN_REPLICAS, returns once replicas hold it."""
        reply = self._settle(
            conference_id, batch_id, action_ids, drain, done=done, counters=counters,
            announced=announced, ended=ended, latency=latency, note=note,
        )  # fmt: skip
        return Settled(text(reply[0]))

    def give_up(
        self,
        conference_id: str,
        batch_id: str,
        action_ids: Sequence[str],
        *,
        drain: tuple[str, str],
        letter: DeadLetter,
        counters: Sequence[str] = (),
        note: str = "",
    ) -> tuple[Settled, bool]:
        """settle() for a command given up on: recorded dead for every item it covered (no
        redelivery adds them back; replaying the letter sends it), its dead `letter` stored in
        the same step. Unless a run that lost the lane has recorded Telnyx's acceptance of it:
        then it is settled done, and the answer's second part is True."""
        reply = self._settle(
            conference_id, batch_id, action_ids, drain, done=False, letter=letter,
            counters=counters, note=note,
        )  # fmt: skip
        return Settled(text(reply[0])), text(reply[2]) == "accepted"

    def settle_and_tell(
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
        note: str = "",
    ) -> tuple[Settled, CircuitChange]:
        """settle(done=True) for a command Telnyx accepted, telling the fleet its `answer`
        (Fleet.tell) in the same step. A run that lost the lane records it done all the same
        (and withdraws a dead letter the holder wrote for it). Returns settle()'s answer, and
        what Fleet.tell returns."""
        reply = self._settle(
            conference_id, batch_id, action_ids, drain, done=True, accepted=True,
            counters=counters, announced=announced, latency=latency,
            tell=fleet.tell_args(drain[1], answer), note=note,
        )  # fmt: skip
        return Settled(text(reply[0])), CircuitChange(text(reply[1]))

    def _settle(
        self,
        conference_id: str,
        batch_id: str,
        action_ids: Sequence[str],
        drain: tuple[str, str],
        *,
        done: bool,
        accepted: bool = False,
        letter: DeadLetter | None = None,
        counters: Sequence[str] = (),
        announced: bool = False,
        ended: bool = False,
        latency: float | None = None,
        tell: dict[str, str | int | float] | None = None,
        note: str = "",
    ) -> Any:
        recorded = done or letter is not None
        # The command's own first, then each item's.
        ids = dict.fromkeys([batch_id, *action_ids]) if recorded else {}
        keys = self._keys(
            SETTLE, conference_id, claim=claim_key(batch_id), done_keys=[done_key(i) for i in ids]
        )
        told = {f"tell_{name}": value for name, value in tell.items()} if tell else NO_TELL
        args = self._args(
            SETTLE, done_value="dead" if letter is not None else "1",
            accepted="1" if accepted else "0", letter_id=batch_id,
            letter=letter.to_json() if letter is not None else "",
            failed_at=letter.failed_at if letter is not None else 0,
            announced_field="announced" if announced else "", now_ms=int(self._clock() * 1000),
            ended="1" if ended else "0", latency=latency if latency is not None else "",
            drain_id=drain[0], owner=drain[1], batch_id=batch_id,
            tell="1" if tell is not None else "0", action_ids=action_ids, note=note,
            counters=[*counters, *(latency_fields(latency) if latency is not None else [])],
            **told,
        )  # fmt: skip
        return self._write(SETTLE, keys, args)

    def drop(
        self,
        conference_id: str,
        drain_id: str,
        owner: str,
        members: Sequence[str],
        counters: Sequence[str],
        letters: Sequence[DeadLetter | None] = (),
        note: str = "",
    ) -> bool:
        """Take the items `members` out of the lane unsent, recorded so that no redelivery adds
        them back: moot, or given up on with its dead letter (`letters`, one per member, None
        for none), stored in the same step. False when nothing changed: the run does not hold
        the lane, or a member is no longer waiting."""
        ids = [member_id(m) for m in members]
        keys = self._keys(DROP, conference_id, done_keys=[done_key(i) for i in ids])
        given = list(letters) or [None] * len(ids)
        args = self._args(
            DROP, drain_id=drain_id, owner=owner, failed_at=time.time(), members=members,
            action_ids=ids, dead_letters=[letter.to_json() if letter else "" for letter in given],
            counters=counters, note=note,
        )  # fmt: skip
        return bool(self._write(DROP, keys, args))

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
        answered_send: str | None = None,
        counters: Sequence[str] = (),
        note: str = "",
    ) -> HandedOff:
        """End drain `drain_id`'s run: its message is complete, and the lane goes idle, or to
        `successor` (queued, due in `delay` s). `failed`: the inflight command failed and will
        be tried again (counted in the state's `attempts`); `answered_send`: its send's token,
        when Telnyx's answer proves it acted on none of it. `for_created`: the wait is for
        the conference's created; if it has arrived since the run took the lane, nothing
        changes and the answer is again. `counters`: counted with the hand-off. Returns idle,
        next, again, or lost (the run does not hold the lane: nothing changed)."""
        keys = self._keys(HAND_OFF, conference_id)
        args = self._args(
            HAND_OFF, drain_id=drain_id, owner=owner, successor_id=successor[0],
            successor_message=successor[1], due=time.time() + delay, waiting=int(waiting),
            failed=int(failed), for_created=int(for_created), counters=counters,
            answered_send=answered_send or "", note=note,
        )  # fmt: skip
        return HandedOff(text(self._write(HAND_OFF, keys, args)))
