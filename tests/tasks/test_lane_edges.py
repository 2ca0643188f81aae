"""The lane's edges, each replayed step by step with the real drain (`run_drain`), a real Redis
and the local Telnyx API over HTTP (docs/reliability.md, "Exactly once at the edges"):

- a run that lost its lane claims no outcome: no dead letter, no failure, nothing counted;
- a command sent without an answer is sent again only inside Telnyx's command_id window, and
  then ahead of the fleet's waits; past it, its dead letter says the outcome is unknown, also
  when the run that sent it takes its lane again after its hand-off was lost;
- a waiting member whose stored item is gone is dropped, and the lane goes quiet.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from followups.lane_policy import Inflight, LaneItem, Send
from records.deadletters import DeadLetters
from records.fleet import CIRCUIT_FAILURES, SENT, Answer, Ticket
from records.lane_answers import Marked, Pinned
from records.metrics import METRICS
from sandbox.api.http import FakeTelnyxServer
from tasks import drain as drain_module
from tasks import runtime
from tasks.drain import run_drain
from tasks.lane_hold import send_deadline
from telnyx_api.errors import TimeoutError as TelnyxTimeout
from tests.tasks.lane_gate import (
    LANE,
    LEASE,
    C,
    Gate,
    announcements,
    finish_lane,
    join,
    joined,
    start,
)

MISSING = "telnyx_lane_items_missing_total"


def _letters() -> DeadLetters:
    return runtime.current().dead_letters


def _pin_as_sent(redis_client: redis.Redis, drain: str, seconds_ago: float) -> None:
    """A run pins the lane's next command, cleared to go, and sends it `seconds_ago` (by
    Redis's clock); then it dies before Telnyx's answer is recorded: its lease and claim
    lapse."""
    lanes = runtime.current().lanes
    taken = lanes.take(C, drain, "the run that died")
    [entry] = taken.lane.entries
    pinned, go = lanes.pin_and_ask(
        C, drain, entry.action_id, _inflight(entry.item), [entry.member], "the run that died",
        runtime.current().fleet, Ticket(entry.action_id), "the run that died:0",
    )  # fmt: skip
    assert pinned is Pinned.CLAIMED
    assert go is not None
    assert go.now
    seconds, micros = redis_client.time()
    sent_at = int(seconds) * 1000 + int(micros) // 1000 - int(seconds_ago * 1000)
    redis_client.hset(LANE, "sent_at", sent_at)
    redis_client.delete(LEASE, *redis_client.keys("tcw:claim:*"))


def _inflight(item: str) -> str:
    lane_item = LaneItem.from_json(item)
    return Inflight.of(Send(lane_item.action_id, [lane_item], lane_item.followup)).to_json()


def test_a_run_that_lost_its_lane_claims_no_outcome_for_a_command_another_run_sent(
    gate: Gate,
    api: FakeTelnyxServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given run X has pinned Ada's announcement, and stalls before sending it
    drain = join("Ada")
    x_pinned = gate.stop("X", "pin", after=True)
    x = start("X", drain)
    assert x_pinned.reached.wait(10)
    # ... past its lease and its claim, while a copy Y takes over and sends it: accepted
    redis_client.delete(LEASE, *redis_client.keys("tcw:claim:*"))
    y = start("Y", drain)
    y.join(10)
    assert announcements(api) == joined("Ada")
    # When X resumes and finds the command too old to send now
    too_old = drain_module._Drain._too_old

    def x_finds_it_too_old(self: Any, inflight: Any) -> bool:
        return threading.current_thread().name == "X" or too_old(self, inflight)

    monkeypatch.setattr(drain_module._Drain, "_too_old", x_finds_it_too_old)
    x_pinned.go.set()
    x.join(10)
    # Then X claims nothing: no dead letter, nothing counted as expired, nothing sent again
    assert _letters().count() == 0
    assert not [k for k in redis_client.hkeys(METRICS) if b'outcome="expired"' in k]
    assert announcements(api) == joined("Ada")


def test_a_command_sent_without_an_answer_is_not_sent_again_past_telnyxs_window(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given a run sent Ada's announcement 59 s ago and died before Telnyx's answer came
    drain = join("Ada")
    _pin_as_sent(redis_client, drain, seconds_ago=59)
    # When the lane's next run takes over
    run_drain(C, drain)
    # Then it does not send it again (Telnyx would no longer ignore its command_id): its dead
    # letter says the outcome is unknown, with when it was sent
    assert api.state.commands("speak") == []
    [letter] = _letters().list()
    assert letter.reason == "outcome_unknown"
    assert "sent at" in letter.error
    assert redis_client.hget(LANE, "drain") is None


def test_a_command_sent_without_an_answer_is_sent_again_at_once_inside_the_window(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given a run sent Ada's announcement 5 s ago and died before Telnyx's answer came
    drain = join("Ada")
    _pin_as_sent(redis_client, drain, seconds_ago=5)
    # ... and the fleet's circuit is open since (Telnyx failing)
    fleet = runtime.current().fleet
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("another worker", Answer("failed"))
    # When the lane's next run takes over
    run_drain(C, drain)
    # Then it sends it again at once, ahead of the circuit's wait: Telnyx ignores the repeat if
    # it acted on the first, and acts on it now if it did not
    assert announcements(api) == joined("Ada")
    assert _letters().count() == 0
    assert redis_client.hget(LANE, "drain") is None
    # ... counted in the fleet's pace beside the first send, as Telnyx counts both
    assert redis_client.zcard(SENT) == 2


def test_a_run_whose_hand_off_was_lost_sends_nothing_again_past_the_window_of_its_send(
    gate: Gate,
    api: FakeTelnyxServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given run X sends Ada's announcement: Telnyx acts on it, but its answer is lost
    drain = join("Ada")
    send = drain_module.send
    lost: list[bool] = []

    def answer_lost(*args: Any, **kwargs: Any) -> Any:
        result = send(*args, **kwargs)
        if threading.current_thread().name == "X" and not lost:
            lost.append(True)
            raise TelnyxTimeout("ReadTimeout: no answer")
        return result

    monkeypatch.setattr(drain_module, "send", answer_lost)
    x_hands_off = gate.stop("X", "hand_off")
    x = start("X", drain)
    assert x_hands_off.reached.wait(10)
    # ... and X stalls a minute (by Redis's clock), past its lease, before it hands off to
    # retry it; nobody takes the lane meanwhile
    redis_client.delete(LEASE)
    redis_client.hincrby(LANE, "sent_at", -60_000)
    # When X resumes: its hand-off is lost, and it takes the lane again, no failed attempt
    # counted
    x_hands_off.go.set()
    x.join(10)
    finish_lane(redis_client)
    # Then its next send is another, checked against the first's window: not sent (Telnyx
    # would act on it again), and its dead letter says the outcome is unknown
    assert len(api.state.commands("speak")) == 1
    [letter] = _letters().list()
    assert letter.reason == "outcome_unknown"
    assert redis_client.hget(LANE, "drain") is None


def test_a_waiting_member_whose_item_is_gone_is_dropped_and_the_lane_goes_quiet(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given Ada's announcement waits in the lane, and its stored item is gone (evicted)
    drain = join("Ada")
    redis_client.delete(f"{LANE}:items")
    # When the lane's drain runs
    run_drain(C, drain)
    # Then the member is dropped and counted, nothing is sent, and the lane is idle
    assert redis_client.zcard(f"{LANE}:q") == 0
    assert redis_client.hget(METRICS, MISSING) == b"1"
    assert api.state.commands("speak") == []
    assert redis_client.hget(LANE, "drain") is None


def test_a_resend_must_leave_before_the_first_sends_window_closes_by_redis_clock() -> None:
    # The first send at 0 ms, checked at 50 s by Redis's clock, at 100.0 on this worker's:
    # it must be on its way by 109.0 (60 s after the first send, less a second for the way)
    first_send = Marked(sent_at=0, own=False, past=False, now_ms=50_000)
    assert send_deadline(first_send, checked=100.0) == 109.0
    # and a first send (recorded now, by mark_sent or by the pin) has the whole window
    assert send_deadline(Marked(50_000, own=True, past=False, now_ms=50_000), 100.0) == 159.0
    assert send_deadline(None, 100.0) == 159.0
