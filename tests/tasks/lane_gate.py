"""A conference's lane driven step by step: the real drain (`run_drain`) on threads of the
test process, against a real Redis and the local Telnyx API, with the lane store paused where an
interleaving needs it (Gate), and the helpers the lane tests share.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from records.journal import JOURNAL
from records.lane_store import LaneStore
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, make_event
from tasks import runtime
from tasks.drain import run_drain
from tasks.events import add_to_lane
from telnyx_api.events import Envelope
from testkit.announcements import announced

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
