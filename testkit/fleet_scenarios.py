"""Telnyx's limits against the fleet: a rate limit the workers share, and an outage long
enough to exhaust a per-action retry count. Each starts its own Redis, local Telnyx API, web
process and workers (testkit/harness.py), sends conference.created events (one record_start
each) and counts what the API received.

    python -m testkit.fleet_scenarios rate-limit --conferences 1200
    python -m testkit.fleet_scenarios outage --conferences 200 --seconds 150
"""

from __future__ import annotations

import argparse
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from records.deadletters import DeadLetters
from sandbox.events import encode, make_event
from testkit.harness import Cluster, wait


@dataclass
class FleetOutcome:
    scenario: str
    conferences: int
    attempts: int = 0  # action requests the API received
    rate_limited: int = 0  # of which answered 429
    accepted: int = 0  # record_starts accepted (a repeated command_id counted once)
    repeated: int = 0  # accepted again under a command_id already accepted
    accepted_per_second: float = 0.0  # from the first acceptance to the last
    attempts_during_outage: int = 0
    seconds_to_recover: float = 0.0  # from the outage's end to the last recording started
    dead_lettered: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.attempts if self.attempts else 0.0


def created(conferences: int) -> list[dict[str, Any]]:
    return [make_event("conference.created") for _ in range(conferences)]


def _count(cluster: Cluster, outcome: FleetOutcome) -> list[Any]:
    requests = [r for r in cluster.api.state.requests() if r.action]
    outcome.attempts = len(requests)
    outcome.rate_limited = sum(r.status == 429 for r in requests)
    accepted = [r for r in requests if r.action == "record_start" and 200 <= r.status < 300]
    first_time = [r for r in accepted if not r.duplicate]
    outcome.accepted = len(first_time)
    outcome.repeated = len(accepted) - len(first_time)
    client = cluster.redis()
    try:
        outcome.dead_lettered = DeadLetters(client).count()
    finally:
        client.close()
    return first_time


def rate_limited(conferences: int = 1200, limit: int = 60, workers: int = 2) -> FleetOutcome:
    """`workers` worker processes against an API that allows `limit` commands a second."""
    outcome = FleetOutcome(f"{workers} workers against {limit} commands/s", conferences)
    with Cluster() as cluster:
        cluster.api.state.rate_limit = limit
        for _ in range(workers):
            cluster.add_worker()
        events = created(conferences)
        acked = cluster.deliver([encode(e) for e in events])
        outcome.notes.append(f"{sum(acked)} of {len(events)} webhooks acknowledged")
        patience = 60 + conferences / limit * 3
        wait(lambda: cluster.api.state.accepted_commands >= conferences, patience)
        cluster.wait_until_quiet(30)
        accepted = _count(cluster, outcome)
        if len(accepted) > 1:
            span = accepted[-1].received_at - accepted[0].received_at
            outcome.accepted_per_second = (len(accepted) - 1) / span if span else 0.0
    return outcome


def outage(
    conferences: int = 200, seconds: float = 150.0, *, kill_a_worker: bool = False
) -> FleetOutcome:
    """Telnyx answers 503 to everything for `seconds` while `conferences` are created; with
    `kill_a_worker`, one of two workers is SIGKILLed half-way through."""
    name = f"Telnyx down {seconds:g}s" + (", a worker SIGKILLed" if kill_a_worker else "")
    outcome = FleetOutcome(name, conferences)
    with Cluster() as cluster:
        cluster.api.state.outage = True
        victim = cluster.add_worker()
        if kill_a_worker:
            cluster.add_worker()
        events = created(conferences)
        started = time.monotonic()
        cluster.deliver([encode(e) for e in events])
        time.sleep(max(0.0, started + seconds / 2 - time.monotonic()))  # the outage's length
        if kill_a_worker:
            victim.signal_group(signal.SIGKILL)
        time.sleep(max(0.0, started + seconds - time.monotonic()))  # (the rest of it)
        outcome.attempts_during_outage = len([r for r in cluster.api.state.requests() if r.action])
        cluster.api.state.outage = False
        recovered = time.time()
        wait(lambda: cluster.api.state.accepted_commands >= conferences, 120)
        cluster.wait_until_quiet(60)
        accepted = _count(cluster, outcome)
        if accepted:
            outcome.seconds_to_recover = max(r.received_at for r in accepted) - recovered
        statuses = Counter(r.status for r in cluster.api.state.requests() if r.action)
        outcome.notes.append(f"answers: {dict(statuses)}")
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["rate-limit", "outage", "outage-sigkill"])
    parser.add_argument("--conferences", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    if args.scenario == "rate-limit":
        result = rate_limited(args.conferences or 1200, args.limit)
    else:
        kill = args.scenario == "outage-sigkill"
        result = outage(args.conferences or 200, args.seconds, kill_a_worker=kill)
    print(result, f"429 share {result.share_429:.2%}", sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
