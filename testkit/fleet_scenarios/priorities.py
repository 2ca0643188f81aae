"""Recordings that must not wait behind announcements: running conferences joined while new
ones are created, under one rate limit."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.events import client_state, encode, make_event
from testkit import timestamps
from testkit.fleet_scenarios.outcomes import Limit, created, dead_letters, first_accepted
from testkit.harness import Cluster, wait


@dataclass
class PriorityOutcome:
    """Recordings against announcements under one limit. A record_start "waits" from 1 s after
    its webhook was acknowledged until 0.2 s before the API accepted it (an announcement already
    in flight is no fault); one never accepted waits until the end."""

    scenario: str
    running: int  # conferences created first, each then joined by one named participant
    created: int  # conferences created at the same moment as those joins
    limit: int
    record_starts: int = 0  # of the `created` conferences', accepted
    record_start_max: float = 0.0  # seconds from webhook acknowledged to accepted at the API
    record_start_p99: float = 0.0
    announced: int = 0  # joins announced (accepted speaks, a repeat counted once)
    announced_while_waiting: int = 0  # of which accepted while some record_start waited
    expired: int = 0  # joins given up on by the age rule (dead-lettered "expired")
    lost: int = 0  # joins neither announced nor expired
    attempts: int = 0  # action requests from the joins on
    rate_limited: int = 0  # of which answered 429
    notes: list[str] = field(default_factory=list)

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.attempts if self.attempts else 0.0

    @property
    def bound(self) -> float:
        """The issue's promise: every record_start accepted within this many seconds of its
        webhook, whatever else is waiting."""
        return self.created / self.limit + 2


WAITING_AFTER = 1.0  # a record_start "waits" from this long after its webhook...
IN_FLIGHT = 0.2  # ... until this long before it was accepted


def joined(conference_id: str, name: str) -> dict[str, Any]:
    """A named participant joining: announced by name (testkit/announcements.py)."""
    return make_event(
        "conference.participant.joined",
        conference_id=conference_id,
        client_state=client_state({"name": name}),
    )


def interleaved(first: list[bytes], second: list[bytes]) -> list[bytes]:
    """Both lists in one, each spread evenly across it (1 of `first` every n of `second`)."""
    placed = [(i / len(first), 0, b) for i, b in enumerate(first)]
    placed += [(i / len(second), 1, b) for i, b in enumerate(second)]
    return [body for *_, body in sorted(placed, key=lambda p: (p[0], p[1]))]


def priorities(
    running: int,
    conferences: int,
    limit: Limit,
    workers: int = 2,
) -> PriorityOutcome:
    """`running` conferences created (their record_starts accepted); then, at once, one named
    participant joins each while `conferences` new ones are created, under `limit`."""
    outcome = PriorityOutcome(f"recordings first, {limit}", running, conferences, limit.per_second)
    with Cluster() as cluster:
        state = cluster.api.state
        limit.apply(state)
        for _ in range(workers):
            cluster.add_worker()
        # Given `running` conferences, recording
        names = {f"running-{i}": f"Guest {i}" for i in range(running)}
        cluster.deliver([encode(make_event("conference.created", conference_id=c)) for c in names])
        wait(lambda: len(first_accepted(state.requests(), "record_start")) >= running, 120)
        cluster.wait_until_quiet(30)
        # When each is joined while new ones are created
        fresh = [encode(e) for e in created(conferences)]
        joins = [encode(joined(c, name)) for c, name in names.items()]
        started = time.time()
        cluster.deliver(interleaved(joins, fresh), concurrency=32)

        def settled() -> bool:
            requests = state.requests()
            recorded = len(first_accepted(requests, "record_start")) - running
            announced = {r.target for r in first_accepted(requests, "speak")}
            expired = {letter.conference for letter in dead_letters(cluster)}
            return recorded >= conferences and set(names) <= announced | expired

        wait(settled, 60 + (running + conferences) / limit.per_second * 3)
        cluster.wait_until_quiet(30)
        _measure_priorities(cluster, outcome, set(names), fresh, started)
    return outcome


def _measure_priorities(
    cluster: Cluster, outcome: PriorityOutcome, running: set[str], fresh: list[bytes], since: float
) -> None:
    ended = time.time()
    requests = [r for r in cluster.api.state.requests() if r.action and r.received_at >= since]
    outcome.attempts = len(requests)
    outcome.rate_limited = sum(r.status == 429 for r in requests)
    recorded = {r.target: r.received_at for r in first_accepted(requests, "record_start")}
    # Each new conference's webhook acknowledged, and its record_start accepted (or not yet)
    spans: list[tuple[float, float]] = []
    for body in fresh:
        acked = cluster.acknowledged.get(body, since)
        spans.append((acked, recorded.get(_conference(body), ended)))
    waited = [accepted - acked for acked, accepted in spans]
    outcome.record_starts = sum(1 for body in fresh if _conference(body) in recorded)
    outcome.record_start_max = max(waited, default=0.0)
    outcome.record_start_p99 = timestamps.percentile(waited, 0.99)
    speaks = [r for r in first_accepted(requests, "speak") if r.target in running]
    outcome.announced = len({r.target for r in speaks})
    waiting = [(acked + WAITING_AFTER, accepted - IN_FLIGHT) for acked, accepted in spans]
    outcome.announced_while_waiting = timestamps.inside([r.received_at for r in speaks], waiting)
    expired = {
        letter.conference
        for letter in dead_letters(cluster)
        if letter.reason == "expired" and letter.conference in running
    }
    announced = {r.target for r in speaks}
    outcome.expired = len(expired - announced)
    outcome.lost = len(running - announced - expired)


def _conference(body: bytes) -> str:
    return str(json.loads(body)["data"]["payload"]["conference_id"])
