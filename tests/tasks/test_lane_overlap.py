"""Two runs of a conference's drain at once, each interleaving found in review replayed step by
step: the real drain (`run_drain`) on threads of this process, a real Redis, the local Telnyx
API over HTTP, and the lane store paused where the interleaving needs it. A run outlives its
lease (it stalled) when the test deletes the lease, as Redis would on expiry.
"""

from __future__ import annotations

import redis

from core.naming import inline_drain_id
from records.journal import JOURNAL
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import make_event
from tasks import runtime
from tasks.drain import run_drain
from tasks.events import add_to_lane
from telnyx_api.events import Envelope
from tests.tasks.lane_gate import (
    LANE,
    LEASE,
    C,
    Gate,
    announcements,
    event,
    finish_lane,
    join,
    joined,
    start,
)


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
    api.state.fail_next(2, status=503)  # (and the copy sent again at once after it)
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
    api.state.fail_next(2, status=503)  # (and the copy sent again at once after it)
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
    api.state.fail_next(2, status=503)  # (and the copy sent again at once after it)
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
