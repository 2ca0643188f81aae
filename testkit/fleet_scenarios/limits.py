"""The workers against Telnyx's limits: a rate limit they share (one worker's clock off, if
asked), and an outage long enough to exhaust a per-action retry count (a worker SIGKILLed in it,
if asked)."""

from __future__ import annotations

import signal
import time
from collections import Counter

from sandbox.events import encode
from testkit import skewed_clock
from testkit.fleet_scenarios.outcomes import FleetOutcome, Limit, count_requests, created
from testkit.harness import Cluster, wait


def _add_skewed_worker(cluster: Cluster, skew: float, outcome: FleetOutcome) -> None:
    """One worker whose wall clock is `skew` seconds off, proven so before and after it starts."""
    env, seen = skewed_clock.checked(skew, cluster.redis_server.url)
    worker = cluster.add_worker(env)
    if not skewed_clock.preloaded(worker.pid):
        raise skewed_clock.ClockSkewUnavailable(f"libfaketime is not loaded in {worker.pid}")
    outcome.notes.append(f"one worker's clock {seen:+.3f} s off (libfaketime)")


def rate_limited(
    conferences: int,
    limit: Limit,
    workers: int = 2,
    *,
    skew: float | None = None,
) -> FleetOutcome:
    """`workers` worker processes against an API whose rate limit is `limit`, told as it says;
    with `skew`, the first worker's wall clock is that many seconds off (0: libfaketime
    preloaded, the clock right; raises ClockSkewUnavailable where libfaketime is missing)."""
    skewed = f", one clock {skew:+g} s off" if skew is not None else ""
    outcome = FleetOutcome(f"{workers} workers against {limit}{skewed}", conferences)
    if skew is not None and (reason := skewed_clock.unavailable()):
        raise skewed_clock.ClockSkewUnavailable(reason)
    with Cluster() as cluster:
        limit.apply(cluster.api.state)
        if skew is not None:
            _add_skewed_worker(cluster, skew, outcome)
        while len(cluster.workers) < workers:
            cluster.add_worker()
        events = created(conferences)
        acked = cluster.deliver([encode(e) for e in events])
        outcome.notes.append(f"{sum(acked)} of {len(events)} webhooks acknowledged")
        patience = 60 + conferences / limit.per_second * 3
        wait(lambda: cluster.api.state.accepted_commands >= conferences, patience)
        cluster.wait_until_quiet(30)
        accepted = count_requests(cluster, outcome)
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
        accepted = count_requests(cluster, outcome)
        if accepted:
            outcome.seconds_to_recover = max(r.received_at for r in accepted) - recovered
        statuses = Counter(r.status for r in cluster.api.state.requests() if r.action)
        outcome.notes.append(f"answers: {dict(statuses)}")
    return outcome
