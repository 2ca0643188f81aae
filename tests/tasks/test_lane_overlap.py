"""Two runs of a conference's drain at once, each interleaving found in review replayed step by
step: the real drain (`run_drain`) on threads of this process, a real Redis, the local Telnyx
API over HTTP, and the lane store paused where the interleaving needs it. A run outlives its
lease (it stalled) when the test deletes the lease, as Redis would on expiry.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from core.naming import inline_drain_id
from core.settings import WorkerSettings
from records.journal import JOURNAL
from records.lane_store import LaneStore
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, make_event
from tasks import runtime
from tasks.drain import run_drain
from tasks.events import add_to_lane
from telnyx_api.events import Envelope
from testkit.announcements import announced
from tests.conftest import API_KEY

C = "conf-overlap"
LANE, LEASE = f"tcw:lane:{C}", f"tcw:lane:{C}:lease"


FOLDED = {"pin_and_ask": "pin", "settle_and_tell": "settle", "append_and_take": "append"}


@dataclass
class Stop:
    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)


class Gate:
    """The lane store, with stops: a thread named `run` halts before (or after) its `nth` call
    of `method` until the test lets it go."""

    def __init__(self, lanes: LaneStore) -> None:
        self._lanes = lanes
        self._stops: dict[tuple[str, str, str, int], Stop] = {}
        self._calls: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def stop(self, run: str, method: str, *, after: bool = False, nth: int = 1) -> Stop:
        stop = Stop()
        self._stops[(run, method, "after" if after else "before", nth)] = stop
        return stop

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._lanes, name)
        if not callable(target):
            return target

        # A step folded with the fleet's ask or tell (or with the take) is still that step.
        step = FOLDED.get(name, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._halt(step, "before")
            result = target(*args, **kwargs)
            self._halt(step, "after")
            return result

        return call

    def _halt(self, method: str, when: str) -> None:
        run = threading.current_thread().name
        with self._lock:
            self._calls[(run, method, when)] += 1
            stop = self._stops.get((run, method, when, self._calls[(run, method, when)]))
        if stop is not None:
            stop.reached.set()
            assert stop.go.wait(20), f"{run} was never let go at {method}"


@pytest.fixture
def gate(redis_url: str, redis_client: redis.Redis, api: FakeTelnyxServer) -> Iterator[Gate]:
    settings = WorkerSettings(
        redis_url=redis_url,
        telnyx_api_key=API_KEY,  # type: ignore[arg-type]
        telnyx_api_base_url=api.base_url,
        retry_backoff_base_seconds=0.05,
        retry_backoff_max_seconds=0.5,
        announce_interval_seconds=0,
        conference_settle_seconds=0,
        announce_merged_names=20,
    )
    rt = runtime.Runtime(settings)
    gate = Gate(rt.lanes)
    rt._lanes = gate  # type: ignore[assignment]
    previous = runtime._current
    runtime.configure(rt)
    yield gate
    runtime._current = previous
    rt.close()


def event(event_type: str, name: str | None = None) -> str:
    """Plan a conference event and add its follow-ups to the lane, as the event task does;
    returns the drain id it would run inline (or '' when the lane has a drain)."""
    fields: dict[str, Any] = {"conference_id": C}
    if name:
        fields["client_state"] = client_state({"name": name})
    envelope = Envelope.model_validate(make_event(event_type, **fields))
    followups = runtime.current().plan(envelope.data)
    return add_to_lane(envelope.data, followups)[1] or ""


def join(name: str) -> str:
    return event("conference.participant.joined", name)


def start(run: str, drain_id: str) -> threading.Thread:
    thread = threading.Thread(target=run_drain, args=(C, drain_id), name=run, daemon=True)
    thread.start()
    return thread


def finish_lane(client: redis.Redis) -> None:
    """Run the lane's drains, as the queue and the journal's sweep would, until it is idle."""
    for _ in range(20):
        drain = client.hget(LANE, "drain")
        if drain is None:
            return
        assert client.hexists(JOURNAL, drain), "the lane's drain is in no journal"
        run_drain(C, drain.decode())
    raise AssertionError("the lane never went idle")


def announcements(api: FakeTelnyxServer) -> Counter[str]:
    """How many commands Telnyx carried out announcing each name (it ignores a repeated
    command_id)."""
    said = announced([r for r in api.state.commands() if not r.duplicate], C)
    return Counter(name for covered in said for name in covered.named)


def joined(*names: str) -> Counter[str]:
    return Counter(names)


def test_a_stale_settle_does_not_settle_another_runs_command(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given run X has sent Ada's announcement and stalls before recording it
    drain = join("Ada")
    x_settling = gate.stop("X", "settle")
    x = start("X", drain)
    assert x_settling.reached.wait(10)
    # ... past its lease and its claim, while three more join
    redis_client.delete(LEASE, *redis_client.keys("tcw:claim:*"))
    for name in ("Bob", "Cy", "Di"):
        join(name)
    # When a copy Y of the drain takes over: it settles Ada's command and pins the merged one
    y_pinned = gate.stop("Y", "pin", after=True)
    y = start("Y", drain)
    assert y_pinned.reached.wait(10)
    # ... then X's settle arrives, and Y's merged command fails once
    x_settling.go.set()
    x.join(10)
    api.state.fail_next(1, status=503)
    y_pinned.go.set()
    y.join(10)
    finish_lane(redis_client)
    # Then everyone is announced, once
    assert announcements(api) == joined("Ada", "Bob", "Cy", "Di")
    assert not redis_client.hlen(f"{LANE}:items")


def test_a_stale_pin_does_not_announce_again(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given run X has decided to announce Ada alone, and stalls before pinning the command
    drain = join("Ada")
    x_pinning = gate.stop("X", "pin")
    x = start("X", drain)
    assert x_pinning.reached.wait(10)
    redis_client.delete(LEASE)
    # When Bob joins, and a copy Y announces Ada and Bob together; Cy joins before Y records it
    join("Bob")
    y_settling = gate.stop("Y", "settle")
    y_settled = gate.stop("Y", "settle", after=True)
    y = start("Y", drain)
    assert y_settling.reached.wait(10)
    join("Cy")
    y_settling.go.set()
    assert y_settled.reached.wait(10)
    # ... and X's pin arrives while Cy waits
    x_pinning.go.set()
    x.join(10)
    y_settled.go.set()
    y.join(10)
    finish_lane(redis_client)
    # Then Ada was announced once
    assert announcements(api) == joined("Ada", "Bob", "Cy")


def test_a_wake_does_not_replace_a_running_drain(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given a lane whose drain was waiting (a retry's backoff), and now runs as X
    api.state.fail_next(1, status=503)
    first = join("Ada")
    run_drain(C, first)  # Ada's announcement fails: the lane waits for a delayed drain
    waiting = redis_client.hget(LANE, "drain")
    assert waiting is not None
    assert redis_client.hget(LANE, "waiting") == b"1"
    x_took = gate.stop("X", "take", after=True)
    x = start("X", waiting.decode())
    assert x_took.reached.wait(10)
    # When the conference.created arrives meanwhile, and its event task drains if it may
    created = event("conference.created")
    if created:
        start("T", created).join(10)
    x_took.go.set()
    x.join(10)
    # Then the running drain carried on: everything is sent, nothing is left for the sweep
    assert redis_client.hget(LANE, "drain") is None, "the lane waits on a drain nobody runs"
    assert announcements(api) == joined("Ada")
    assert len(api.state.commands("record_start")) == 1


def test_a_stale_copy_does_not_complete_a_drain_that_is_the_lanes_again(
    gate: Gate, api: FakeTelnyxServer, redis_client: redis.Redis
) -> None:
    # Given a lane waiting for a delayed drain (a retry's backoff)
    api.state.fail_next(1, status=503)
    run_drain(C, join("Ada"))
    assert redis_client.hget(LANE, "waiting") == b"1"
    # ... and a copy S of the created event's drain, queued by the journal's sweep, that has
    # just found itself stale
    envelope = Envelope.model_validate(make_event("conference.created", conference_id=C))
    reused = inline_drain_id(envelope.data.id)
    s_took = gate.stop("S", "take", after=True)
    s = start("S", reused)
    assert s_took.reached.wait(10)
    # When the created event's task appends it: its drain id becomes the lane's drain
    followups = runtime.current().plan(envelope.data)
    assert add_to_lane(envelope.data, followups)[1] == reused
    # ... and dies before running it, while S carries on
    s_took.go.set()
    s.join(10)
    # Then the lane's drain is still journaled (the sweep runs it), and runs to the end
    assert redis_client.hget(LANE, "drain") == reused.encode()
    assert redis_client.hexists(JOURNAL, reused)
    finish_lane(redis_client)
    assert announcements(api) == joined("Ada")
    assert len(api.state.commands("record_start")) == 1
