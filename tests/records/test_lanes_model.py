"""The lane store, model-checked against a real Redis: hypothesis drives drain runs through
every step they take (take, pin, claim, send, settle, drop, hand-off) interleaved with events,
lease and claim lapses, lost replies, redeliveries, killed runs, wakes, lost and refused
answers, time passing and evicted items, and checks the lane's invariants (docs/lanes.md,
"Invariants": 1 one place, 2 sent once, 3 fenced, 4 always a drain, 6 no false dead letter,
7 inside the window) after every step, and invariant 5 (drains to idle) once the faults stop.

The runs follow the drain's steps (docs/lanes.md, "The drain, step by step"), with the policy's
own `next_step` deciding what to send; Telnyx is a dictionary of the commands it accepted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.naming import LANE_DRAIN, inline_drain_id
from core.settings import RESEND_WINDOW_SECONDS, SEND_GRACE_SECONDS
from followups.announcement import JOINED
from followups.announcement import LEFT as LEFT_CONFERENCE
from followups.followup import Announce, FollowUp
from followups.lane_policy import (
    CREATED,
    ENDED,
    LEFT,
    Drop,
    Idle,
    Inflight,
    LaneItem,
    LaneState,
    Send,
    Timing,
    Wait,
    next_step,
)
from records.deadletters import LETTERS, DeadLetter
from records.fleet import Answer, Fleet, Ticket
from records.journal import JOURNAL
from records.lane_answers import LaneSnapshot, Pinned, Taken, member_id
from records.lane_store import LaneStore
from records.ledger import Begin, Ledger
from records.messages import celery_message
from records.once import done_record
from records.replies import text as _text
from tasks.lane_hold import send_deadline

C = "conf-model"
STATE, QUEUE_KEY, ITEMS, LEASE = (f"tcw:lane:{C}{s}" for s in ("", ":q", ":items", ":lease"))
NOW_MS = 1_800_000_000_000

# No settle time or spacing: every wait is then a retry's, and runs act at once.
TIMING = Timing(settle_ms=0, spacing_ms=0, max_age_ms=10**9, wants_created=False)
PEOPLE = ["call-a", "call-b", "call-c"]


def _message(drain_id: str) -> tuple[str, bytes]:
    return drain_id, celery_message(LANE_DRAIN, drain_id, [C], f"conference={C}")


@dataclass
class Run:
    """One run of a drain message, as `_Drain` carries it out: `phase` is its next step."""

    drain_id: str
    owner: str
    phase: str = "take"
    inflight: Inflight | None = None
    members: dict[str, str] = field(default_factory=dict)
    step: Any = None
    claimed: bool = False
    failed: bool = False
    # Whether the lane had a send whose outcome is unknown when taken; whether Telnyx's answer
    # to this run's send proves it acted on none of it (a refusal).
    sent_at: int | None = None
    refused: bool = False
    # The run's sends begun, and the token of its last (the drain's `_send_token`).
    sends: int = 0
    token: str = ""
    # When this run last checked Telnyx's window before a send (the pin recorded the send, or
    # mark_sent answered), and when that send must be on its way by (`send_deadline`): both
    # by Redis's clock, in s, where the drain reads time.monotonic().
    marked: float | None = None
    leave_by: float | None = None


class LaneModel(RuleBasedStateMachine):
    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.lanes = LaneStore(self.client, lease_seconds=60, done_ttl_seconds=3600)
        self.ledger = Ledger(self.client, lease_seconds=60, done_ttl_seconds=3600)
        # (A pace that never makes a command wait here: the fleet's own tests cover waiting.)
        self.fleet = Fleet(self.client, start_per_second=1_000_000)
        self.events: list[tuple[str, str, list[LaneItem], str | None]] = []
        self.appended: set[str] = set()
        self.dead: set[str] = set()
        self.runs: dict[int, Run] = {}
        self.next_run = 0
        self.next_event = 0
        self.clock = 0
        # Telnyx: command_id -> the compositions (sets of action ids) it was accepted for.
        self.accepted: dict[str, set[frozenset[str]]] = {}
        self.sent_as: dict[str, set[str]] = {}  # action id -> command_ids it was sent under
        # Telnyx's clock (ms), and when it first acted on each command_id: it ignores a repeat
        # for 60 s, and acts on one after that again.
        self.acted_at: dict[str, int] = {}  # (by Redis's clock, in ms)
        self.batches: dict[str, frozenset[str]] = {}  # command (ledger) id -> what it covers
        self.evicted: set[str] = set()

    # -- events ------------------------------------------------------------------------------

    @rule(kind=st.sampled_from(["join", "join", "join", "leave", CREATED, ENDED]),
          who=st.sampled_from(PEOPLE))  # fmt: skip
    def event(self, kind: str, who: str) -> None:
        self.next_event += 1
        self.clock += 1
        event_id = f"e{self.next_event}"
        at = (NOW_MS + self.clock) * 1000
        items: list[LaneItem] = []
        left = None
        if kind == "join":
            announce = Announce("joins", JOINED, f"Person {who}", who, joined=True)
            params = {"payload": f"{who} joined", "command_id": f"cmd-{event_id}"}
            followup = FollowUp("conference", "speak", C, params, announce)
            items.append(LaneItem(f"a-{event_id}", followup, event_id, "joined", None, at))
        elif kind == "leave":
            left = who
            announce = Announce("leaves", LEFT_CONFERENCE, f"Person {who}", who, joined=False)
            params = {"payload": f"{who} left", "command_id": f"cmd-{event_id}"}
            followup = FollowUp("conference", "speak", C, params, announce)
            items.append(LaneItem(f"a-{event_id}", followup, event_id, LEFT, None, at))
        elif kind == CREATED:
            params = {"format": "mp3", "command_id": f"cmd-{event_id}"}
            followup = FollowUp("conference", "record_start", C, params)
            items.append(LaneItem(f"a-{event_id}", followup, event_id, CREATED, None, at))
        event_type = {"join": "conference.participant.joined", "leave": LEFT}.get(kind, kind)
        self.events.append((event_id, event_type, items, left))
        self._append(len(self.events) - 1)

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def redeliver_event(self, data: st.DataObject) -> None:
        """The broker hands an event task out again (its worker died, or was slow)."""
        self._append(data.draw(st.integers(0, len(self.events) - 1)))

    def _append(self, index: int) -> None:
        event_id, event_type, items, left = self.events[index]
        drain = _message(inline_drain_id(event_id))
        at = items[0].occurred_us if items else (NOW_MS + self.clock) * 1000
        # As the event task does: append, complete its own message and, as the lane's drain,
        # take the lane (its lease for its run) in one step.
        owner = f"run-{self.next_run + 1}"
        _, taken = self.lanes.append_and_take(
            C,
            [(i.action_id, i.score, i.to_json()) for i in items],
            event_type=event_type,
            drain=drain,
            owner=owner,
            complete=f"event-task-{event_id}",
            left=(left, at) if left else None,
            now_ms=NOW_MS,
        )
        self.appended.update(i.action_id for i in items)
        if taken is not None:  # the event task drains its lane itself, from that take
            self._spawn(drain[0])
            self._taken(self.next_run, taken)

    # -- runs --------------------------------------------------------------------------------

    def _spawn(self, drain_id: str) -> None:
        self.next_run += 1
        self.runs[self.next_run] = Run(drain_id, owner=f"run-{self.next_run}")

    @precondition(lambda self: self.client.hlen(JOURNAL) > 0)
    @rule(data=st.data())
    def deliver_from_journal(self, data: st.DataObject) -> None:
        """A drain message runs: queued, redelivered, or queued again by the journal's sweep;
        maybe while another copy of it runs."""
        ids = sorted(_text(i) for i in self.client.hkeys(JOURNAL))
        self._spawn(data.draw(st.sampled_from(ids)))

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), lost_reply=st.booleans())
    def step(self, data: st.DataObject, lost_reply: bool) -> None:
        """One run takes its next step; with `lost_reply`, Redis ran the step's script but the
        reply was lost, and the run (through_redis_outage) runs it again."""
        key = data.draw(st.sampled_from(sorted(self.runs)))
        outcome = data.draw(
            st.sampled_from(
                ["accepted", "accepted", "timeout", "server_error", "limited", "refused"]
            )
        )
        self._advance(key, outcome, lost_reply)

    @precondition(lambda self: self.runs)
    @rule(data=st.data())
    def kill(self, data: st.DataObject) -> None:
        """A worker dies (SIGKILL): its run stops wherever it was."""
        del self.runs[data.draw(st.sampled_from(sorted(self.runs)))]

    @rule()
    def lease_lapses(self) -> None:
        """The run holding the lane stalls past its lease (or died): the lease expires."""
        self.client.delete(LEASE)

    @rule()
    def time_passes(self) -> None:
        """A minute goes by (a stall, a long wait for the fleet): a command sent without an
        answer before it is now outside Telnyx's command_id window. (Every time recorded, the
        lane's, Telnyx's and the runs', moves a minute into the past.)"""
        if self.client.hexists(STATE, "sent_at"):
            self.client.hincrby(STATE, "sent_at", -60_000)
        self.acted_at = {command: at - 60_000 for command, at in self.acted_at.items()}
        for run in self.runs.values():
            if run.marked is not None and run.leave_by is not None:
                run.marked, run.leave_by = run.marked - 60, run.leave_by - 60

    @precondition(lambda self: self.client.zcard(QUEUE_KEY) > 0)
    @rule(data=st.data())
    def evict_item(self, data: st.DataObject) -> None:
        """A waiting item's stored text is gone (evicted, or deleted by hand)."""
        members = sorted(_text(m) for m in self.client.zrange(QUEUE_KEY, 0, -1))
        action_id = member_id(data.draw(st.sampled_from(members)))
        self.client.hdel(ITEMS, action_id)
        self.evicted.add(action_id)

    @rule()
    def claims_lapse(self) -> None:
        for key in self.client.scan_iter("tcw:claim:*"):
            self.client.delete(key)

    def _advance(self, key: int, outcome: str = "accepted", lost_reply: bool = False) -> None:
        run = self.runs[key]
        holder = self.client.get(LEASE)
        twice = 2 if lost_reply else 1
        if run.phase == "take":
            for _ in range(twice):
                taken = self.lanes.take(C, run.drain_id, run.owner)
            self._taken(key, taken)
        elif run.phase == "requeue":
            answer = ""
            for _ in range(twice):
                answer = self.lanes.requeue(C, _message(run.drain_id), 0.0)
            if answer == "free":
                run.phase = "take"
            else:
                del self.runs[key]
        elif run.phase == "pin":
            assert run.inflight is not None
            members = [run.members[i] for i in run.inflight.action_ids]
            pinned = Pinned.NOT_PINNED
            self.batches[run.inflight.batch_id] = frozenset(run.inflight.action_ids)
            for _ in range(twice):  # (asking the fleet in the same step, as a drain does)
                pinned, go = self.lanes.pin_and_ask(
                    C,
                    run.drain_id,
                    run.inflight.batch_id,
                    run.inflight.to_json(),
                    members,
                    run.owner,
                    self.fleet,
                    Ticket(run.inflight.batch_id),
                    send_token=f"{run.owner}:{run.sends}",
                )
                assert go is None or go.now, go
            if pinned and not lost_reply:
                self._accepted_write(run, holder)
            # (Cleared by the fleet, which paces nothing here: the pin recorded this send.)
            run.sent_at = None
            run.marked = self._redis_ms() / 1000
            run.leave_by = send_deadline(None, run.marked)
            run.phase, run.claimed = ("send", pinned == 1) if pinned else ("take", False)
            if pinned == 2:
                run.phase = "begin"
        elif run.phase == "begin":
            assert run.inflight is not None
            state, _ = self.ledger.begin(run.inflight.batch_id, run.owner, conference_id=C)
            if state is Begin.DONE:
                run.phase, run.step = "settle", "duplicate"
            elif state is Begin.BUSY:
                run.phase, run.failed = "hand_off", False
            else:
                marked = None
                for _ in range(twice):
                    marked = self.lanes.mark_sent(
                        C, run.drain_id, run.owner, f"{run.owner}:{run.sends}",
                        RESEND_WINDOW_SECONDS,
                    )  # fmt: skip
                if marked is not None and not lost_reply:
                    self._accepted_write(run, holder)
                if marked is None:
                    run.phase = "take"
                elif marked.past:
                    # Sent with no answer, and past Telnyx's window now: not sent again.
                    self.dead.update(run.inflight.action_ids)
                    run.phase, run.step = "settle", "unknown"
                else:
                    run.marked = self._redis_ms() / 1000
                    run.leave_by = send_deadline(marked, run.marked)
                    run.phase = "send"
        elif run.phase == "send":
            assert run.inflight is not None
            assert run.marked is not None
            assert run.leave_by is not None
            command = str(run.inflight.item.followup.params["command_id"])
            now_ms = self._redis_ms()
            # What the drain checks before the request goes (tasks/drain.py,
            # _send_pinned_logged), Redis's clock standing for its time.monotonic():
            if now_ms / 1000 - run.marked > SEND_GRACE_SECONDS:
                # `time.monotonic() - marked > SEND_GRACE_SECONDS`: too long since the window
                # was checked; not sent. (A stall this long is past the run's RUN_SECONDS too:
                # it hands off, or takes the lane again if that is lost.)
                run.phase, run.failed = "hand_off", False
                return
            run.token, run.sends = f"{run.owner}:{run.sends}", run.sends + 1  # (begun)
            if now_ms / 1000 >= run.leave_by:
                # `send_deadline`, the request's leaving deadline (telnyx_api/deadlines.py):
                # past it, not sent, a TransportError that says Telnyx never had it (as a 429
                # would: retried, and this send's record forgotten if it is the lane's).
                self.ledger.release(run.inflight.batch_id, run.owner)
                run.phase, run.failed, run.refused = "hand_off", True, True
                return
            if command in self.acted_at:
                # Invariant 7. Telnyx acted on this command_id before: a repeat is ignored
                # inside its window (answered as accepted, or the answer lost), and acted on
                # again after it.
                assert now_ms - self.acted_at[command] < 60_000, (
                    f"{command} resent {now_ms - self.acted_at[command]} ms after Telnyx "
                    "acted on it: acted on twice"
                )
                outcome = "accepted" if outcome == "refused" else outcome
            # timeout: acted on, the answer lost; server_error: acted on, answered 500 (or 502,
            # 504); limited: not acted on, answered 429 (or 503, 408); refused: not acted on,
            # answered 4xx for good.
            if outcome in ("accepted", "timeout", "server_error"):
                covers = frozenset(run.inflight.action_ids)
                self.acted_at.setdefault(command, now_ms)
                self.accepted.setdefault(command, set()).add(covers)
                for action_id in covers:
                    self.sent_as.setdefault(action_id, set()).add(command)
            if outcome == "accepted":
                run.phase, run.step = "settle", "sent"
            elif outcome in ("timeout", "server_error", "limited"):
                self.ledger.release(run.inflight.batch_id, run.owner)
                run.phase, run.failed, run.refused = "hand_off", True, outcome == "limited"
            else:
                self.dead.update(run.inflight.action_ids)
                run.phase, run.step = "settle", "dead"
        elif run.phase == "settle":
            assert run.inflight is not None
            answer = ""
            for _ in range(twice):
                if run.step == "sent":  # (telling the fleet in the same step, as a drain does)
                    answer, _ = self.lanes.settle_and_tell(
                        C,
                        run.inflight.batch_id,
                        run.inflight.action_ids,
                        drain=(run.drain_id, run.owner),
                        fleet=self.fleet,
                        answer=Answer("answered"),
                    )
                    continue
                reason = {"dead": "rejected", "unknown": "outcome_unknown"}.get(run.step)
                if reason is not None:
                    letter = DeadLetter(run.inflight.batch_id, "conference.speak", [], reason, "")
                    answer, _ = self.lanes.give_up(
                        C,
                        run.inflight.batch_id,
                        run.inflight.action_ids,
                        drain=(run.drain_id, run.owner),
                        letter=letter,
                    )
                    continue
                answer = self.lanes.settle(
                    C,
                    run.inflight.batch_id,
                    run.inflight.action_ids,
                    drain=(run.drain_id, run.owner),
                    done=True,
                )
            if answer != "lost" and not lost_reply:
                self._accepted_write(run, holder)
            if answer == "idle":
                del self.runs[key]
            else:
                run.phase = "take"
        elif run.phase == "drop":
            assert isinstance(run.step, Drop)
            members = [run.members[i.action_id] for i in run.step.items]
            dropped = False
            for _ in range(twice):
                dropped = self.lanes.drop(C, run.drain_id, run.owner, members, [])
            if dropped and not lost_reply:
                self._accepted_write(run, holder)
            run.phase = "take"
        elif run.phase == "hand_off":
            answer = ""
            for _ in range(twice):
                answer = self.lanes.hand_off(
                    C,
                    run.drain_id,
                    run.owner,
                    _message(f"d{self.next_run}-{run.owner}-{self.clock}"),
                    waiting=True,
                    failed=run.failed,
                    answered_send=(run.token if run.failed and run.refused else None),
                )
            if answer in ("idle", "next"):
                if not lost_reply:
                    self._accepted_write(run, holder)
                del self.runs[key]
            else:
                run.phase = "take"

    def _taken(self, key: int, taken: Taken) -> None:
        run = self.runs[key]
        if taken.status == "stale":
            del self.runs[key]
        elif taken.status == "busy":
            run.phase = "requeue"
        else:
            self._decide(run, taken.lane)

    def _decide(self, run: Run, lane: LaneSnapshot) -> None:
        """What the drain does with the lane it took: settle what is in flight, or the policy's
        next step."""
        run.members = {entry.action_id: entry.member for entry in lane.entries}
        if lane.inflight is not None:
            run.inflight = Inflight.from_json(lane.inflight)
            run.sent_at = lane.sent_at
            if lane.ended and run.inflight.item.event_type != ENDED:
                run.phase, run.step = "settle", "moot"
            else:
                run.phase, run.failed = "begin", False
            return
        items = [LaneItem.from_json(entry.item) for entry in lane.entries]
        state = LaneState(lane.first_ms, lane.created, lane.ended, lane.left, lane.announced)
        step = next_step(items, state, NOW_MS, TIMING)
        run.step = step
        if isinstance(step, Idle | Wait):
            run.phase, run.failed = "hand_off", False
        elif isinstance(step, Drop):
            run.phase = "drop"
        else:
            assert isinstance(step, Send)
            run.inflight = Inflight.of(step)
            run.phase = "pin"

    def _redis_ms(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _accepted_write(self, run: Run, holder: bytes | None) -> None:
        """Invariant 3, fenced: a write the store accepted came from the lease's holder."""
        held_by = _text(holder) if holder is not None else None
        assert held_by == run.owner, f"{run.owner} changed the lane while {held_by} held it"

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def every_item_is_in_exactly_one_place(self) -> None:
        """Invariant 1, one place. (An evicted item, a fault outside the guarantee, is left
        out until it is back: a redelivery can add it again.)"""
        queued = [member_id(_text(m)) for m in self.client.zrange(QUEUE_KEY, 0, -1)]
        raw = self.client.hget(STATE, "inflight")
        inflight = Inflight.from_json(raw).action_ids if raw else []
        held = {_text(k) for k in self.client.hkeys(ITEMS)}
        queued = [q for q in queued if q not in self.evicted]
        inflight = [i for i in inflight if i not in self.evicted]
        held -= self.evicted
        assert len(queued) == len(set(queued))
        assert not set(queued) & set(inflight), "an item both queued and in flight"
        assert held == set(queued) | set(inflight), (
            f"items nowhere: {held - set(queued) - set(inflight)}; "
            f"queued or in flight without an item: {(set(queued) | set(inflight)) - held}"
        )
        for action_id in self.appended - held - self.evicted:
            assert action_id in self.dead or done_record(self.client, C, action_id), (
                f"{action_id} left the lane unsettled"
            )

    @invariant()
    def no_dead_letter_for_what_telnyx_accepted(self) -> None:
        """Invariant 6, no false dead letter: a letter for a command Telnyx acted on says its
        outcome is unknown (the run that sent it had no answer, and died or stalls)."""
        for raw in self.client.hvals(LETTERS):
            letter = DeadLetter.from_json(raw)
            covered = self.batches.get(letter.task_id, frozenset({letter.task_id}))
            if covered & set(self.sent_as):
                assert letter.reason == "outcome_unknown", (
                    f"a {letter.reason} letter for {sorted(covered)}, which Telnyx accepted"
                )

    @invariant()
    def nothing_is_sent_twice(self) -> None:
        """Invariant 2, sent once, as one thing."""
        for action_id, commands in self.sent_as.items():
            assert len(commands) <= 1, f"{action_id} sent as {commands}"
        for command, compositions in self.accepted.items():
            assert len(compositions) <= 1, f"{command} covered {compositions}"

    @invariant()
    def a_lane_with_work_has_a_journaled_drain(self) -> None:
        """Invariant 4, always a drain."""
        work = self.client.zcard(QUEUE_KEY) > 0 or self.client.hexists(STATE, "inflight")
        if work:
            drain = self.client.hget(STATE, "drain")
            assert drain is not None, "work waits with no drain"
            assert self.client.hexists(JOURNAL, drain), "the lane's drain is not journaled"

    def teardown(self) -> None:
        """The faults stop: every run dies, and the journal's messages run, one at a time,
        without faults, until nothing is left. The lane must end idle, every item settled
        (invariant 5, drains to idle)."""
        self.runs.clear()
        self.client.delete(LEASE)
        for key in self.client.scan_iter("tcw:claim:*"):
            self.client.delete(key)
        for _ in range(200):
            if not self.runs:
                drains = sorted(_text(i) for i in self.client.hkeys(JOURNAL))
                if not drains:
                    break
                self._spawn(drains[0])
            self._advance(min(self.runs))
            self.every_item_is_in_exactly_one_place()
            self.nothing_is_sent_twice()
            self.no_dead_letter_for_what_telnyx_accepted()
        assert not self.runs, "the drains did not finish"
        assert self.client.zcard(QUEUE_KEY) == 0
        assert not self.client.hexists(STATE, "inflight")
        assert not self.client.hexists(STATE, "drain")
        settled = {a for a in self.appended if a in self.dead or done_record(self.client, C, a)}
        assert settled >= self.appended - self.evicted


def test_the_lane_store_keeps_its_invariants_in_any_interleaving(
    redis_client: redis.Redis,
) -> None:
    LaneModel.client = redis_client
    run_state_machine_as_test(
        LaneModel,
        settings=settings(
            max_examples=300,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_the_model_sees_a_lost_item(redis_client: redis.Redis) -> None:
    """The invariants can fail: an item taken out of the queue without being in flight."""
    LaneModel.client = redis_client
    model = LaneModel()
    model.event("join", "call-a")
    member = _text(redis_client.zrange(QUEUE_KEY, 0, 0)[0])
    redis_client.zrem(QUEUE_KEY, member)
    assert sorted(model.appended) == [member_id(member)]
    with pytest.raises(AssertionError, match="items nowhere"):
        model.every_item_is_in_exactly_one_place()


def _sent_without_an_answer_a_minute_ago(model: LaneModel) -> int:
    """A join's announcement sent, Telnyx acting on it but its answer lost; the run hands off,
    and a minute passes before the lane's next run: returns that run's key."""
    model.event("join", "call-a")
    first = min(model.runs)
    for outcome in ("accepted", "timeout", "accepted"):  # pin, send (no answer), hand off
        model._advance(first, outcome)
    model.time_passes()
    model._spawn(_text(model.client.hkeys(JOURNAL)[0]))
    late = max(model.runs)
    model._advance(late)  # take
    return late


def test_the_model_resends_nothing_past_the_window(redis_client: redis.Redis) -> None:
    LaneModel.client = redis_client
    model = LaneModel()
    late = _sent_without_an_answer_a_minute_ago(model)
    model._advance(late)  # begin: past the window, given up as unknown
    assert model.runs[late].step == "unknown"
    model._advance(late)  # settle, with its letter
    model.no_dead_letter_for_what_telnyx_accepted()
    [raw] = redis_client.hvals(LETTERS)
    assert DeadLetter.from_json(raw).reason == "outcome_unknown"


def test_the_model_sees_a_resend_past_the_window(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invariants can fail: a drain that resent past Telnyx's window (neither its window's
    check nor the request's leaving deadline stopping it) acts twice."""
    LaneModel.client = redis_client
    monkeypatch.setattr(sys.modules[__name__], "RESEND_WINDOW_SECONDS", 10**6)
    monkeypatch.setattr(sys.modules[__name__], "send_deadline", lambda *_: float("inf"))
    model = LaneModel()
    late = _sent_without_an_answer_a_minute_ago(model)
    model._advance(late)  # begin: resends
    with pytest.raises(AssertionError, match="acted on twice"):
        model._advance(late)


def test_the_model_sends_nothing_a_minute_after_it_checked_the_window(
    redis_client: redis.Redis,
) -> None:
    """As the drain, a run does not send what it checked the window for a minute ago."""
    LaneModel.client = redis_client
    model = LaneModel()
    # Run 1 pins a join's announcement (recording the send) and, its lease and claim lapsed,
    # sends it: Telnyx acts on it
    model.event("join", "call-a")
    model._spawn(_text(model.client.hkeys(JOURNAL)[0]))  # a copy of its drain message: run 2
    model._advance(1)  # pin
    model.claims_lapse()
    model.lease_lapses()
    model._advance(1)  # send: accepted (run 1 dies before it settles it)
    del model.runs[1]
    # Run 2 takes the lane over and checks the window: inside it
    model._advance(2)  # take
    model._advance(2)  # begin
    assert model.runs[2].phase == "send"
    # When a minute passes before run 2 sends
    model.time_passes()
    model._advance(2)
    # Then it does not send (the drain's SEND_GRACE_SECONDS): it hands off, and the lane's
    # next run finds the window passed and gives the command up as unknown
    assert model.runs[2].phase == "hand_off"
    model.teardown()
    [raw] = redis_client.hvals(LETTERS)
    assert DeadLetter.from_json(raw).reason == "outcome_unknown"


def test_the_model_resends_nothing_after_its_own_lost_hand_off_a_minute_on(
    redis_client: redis.Redis,
) -> None:
    """A run whose hand-off of an unanswered send was lost takes the lane again: its next send
    is another, checked against the first's window."""
    LaneModel.client = redis_client
    model = LaneModel()
    # Run 1 pins a join's announcement (recording the send) and sends it: Telnyx acts on it,
    # the answer is lost
    model.event("join", "call-a")
    model._advance(1)  # pin
    model._advance(1, "timeout")  # send
    # ... and it stalls a minute, past its lease, before it hands off: lost
    model.time_passes()
    model.lease_lapses()
    model._advance(1)
    assert model.runs[1].phase == "take"
    # When it takes the lane again (nobody else has) and checks the window for its next send
    model._advance(1)  # take: the command still pinned, no failed attempt counted
    model._advance(1)  # begin
    # Then the window has passed since its first send: given up on as unknown, not sent
    assert model.runs[1].step == "unknown"
    model.teardown()
    [raw] = redis_client.hvals(LETTERS)
    assert DeadLetter.from_json(raw).reason == "outcome_unknown"
