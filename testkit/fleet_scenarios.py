"""Telnyx's limits against the fleet: a rate limit the workers share (told in whole seconds, as
Telnyx documents it: sandbox/api/ratelimit.py), an outage long enough to exhaust a per-action
retry count, recordings that must not wait behind announcements, and the fleet's Redis state lost
mid-drain. Each starts its own Redis, local Telnyx API, web process and workers
(testkit/harness.py), sends webhooks and measures what the API received.

    python -m testkit.fleet_scenarios rate-limit --conferences 1200
    python -m testkit.fleet_scenarios rate-limit --window sliding --rounding down --skew 0.5
    python -m testkit.fleet_scenarios outage --conferences 200 --seconds 150
    python -m testkit.fleet_scenarios priorities --running 100 --conferences 200 --limit 20
    python -m testkit.fleet_scenarios hash-lost --conferences 300 --limit 20 --key 'tcw:fleet*'

A scenario that asks for a skewed clock (--skew) needs libfaketime (Debian: faketime); without
it, it says so and is skipped.
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from records.deadletters import DeadLetter, DeadLetters
from sandbox.api.ratelimit import Rounding, Window
from sandbox.api.recorded import RecordedRequest
from sandbox.api.state import FakeTelnyx
from sandbox.events import client_state, encode, make_event
from testkit import skewed_clock, timestamps
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


@dataclass(frozen=True)
class Limit:
    """The API's rate limit and how it is told (sandbox/api/ratelimit.py)."""

    per_second: int
    window: Window = Window.FIXED
    rounding: Rounding = Rounding.UP
    retry_after: bool = True

    def apply(self, state: FakeTelnyx) -> None:
        state.rate_window = self.window
        state.reset_rounding = self.rounding
        state.retry_after_on_429 = self.retry_after
        state.rate_limit = self.per_second

    def __str__(self) -> str:
        retry = "" if self.retry_after else ", no Retry-After"
        return (
            f"{self.per_second} commands/s ({self.window} windows, reset rounded "
            f"{self.rounding}{retry})"
        )


def created(conferences: int) -> list[dict[str, Any]]:
    return [make_event("conference.created") for _ in range(conferences)]


def first_accepted(requests: list[RecordedRequest], action: str) -> list[RecordedRequest]:
    """The accepted requests of `action`, a repeated command_id left out."""
    return [r for r in requests if r.action == action and 200 <= r.status < 300 and not r.duplicate]


def _count(cluster: Cluster, outcome: FleetOutcome) -> list[RecordedRequest]:
    requests = [r for r in cluster.api.state.requests() if r.action]
    outcome.attempts = len(requests)
    outcome.rate_limited = sum(r.status == 429 for r in requests)
    accepted = [r for r in requests if r.action == "record_start" and 200 <= r.status < 300]
    first_time = [r for r in accepted if not r.duplicate]
    outcome.accepted = len(first_time)
    outcome.repeated = len(accepted) - len(first_time)
    outcome.dead_lettered = len(dead_letters(cluster))
    return first_time


def dead_letters(cluster: Cluster) -> list[DeadLetter]:
    client = cluster.redis()
    try:
        store = DeadLetters(client)
        return store.list(limit=max(store.count(), 1))
    finally:
        client.close()


def _add_skewed_worker(cluster: Cluster, skew: float, outcome: FleetOutcome) -> None:
    """One worker whose wall clock is `skew` seconds off, proven so before and after it starts."""
    env, seen = skewed_clock.checked(skew, cluster.redis_server.url)
    worker = cluster.add_worker(env)
    if not skewed_clock.preloaded(worker.pid):
        raise skewed_clock.ClockSkewUnavailable(f"libfaketime is not loaded in {worker.pid}")
    outcome.notes.append(f"one worker's clock {seen:+.3f} s off (libfaketime)")


def rate_limited(
    conferences: int = 1200,
    limit: int = 60,
    workers: int = 2,
    *,
    window: Window = Window.FIXED,
    rounding: Rounding = Rounding.UP,
    retry_after: bool = True,
    skew: float | None = None,
) -> FleetOutcome:
    """`workers` worker processes against an API that allows `limit` commands a second, told
    in `window` windows, its reset rounded `rounding`; with `skew`, the first worker's wall clock
    is that many seconds off (0: libfaketime preloaded, the clock right; raises
    ClockSkewUnavailable where libfaketime is missing)."""
    told = Limit(limit, window, rounding, retry_after)
    skewed = f", one clock {skew:+g} s off" if skew is not None else ""
    outcome = FleetOutcome(f"{workers} workers against {told}{skewed}", conferences)
    if skew is not None and (reason := skewed_clock.unavailable()):
        raise skewed_clock.ClockSkewUnavailable(reason)
    with Cluster() as cluster:
        told.apply(cluster.api.state)
        if skew is not None:
            _add_skewed_worker(cluster, skew, outcome)
        while len(cluster.workers) < workers:
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
    running: int = 100,
    conferences: int = 200,
    limit: int = 20,
    workers: int = 2,
    *,
    window: Window = Window.FIXED,
    rounding: Rounding = Rounding.UP,
    retry_after: bool = True,
) -> PriorityOutcome:
    """`running` conferences created (their record_starts accepted); then, at once, one named
    participant joins each while `conferences` new ones are created, under `limit` commands/s."""
    told = Limit(limit, window, rounding, retry_after)
    outcome = PriorityOutcome(f"recordings first, {told}", running, conferences, limit)
    with Cluster() as cluster:
        state = cluster.api.state
        told.apply(state)
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

        wait(settled, 60 + (running + conferences) / limit * 3)
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


@dataclass
class HashLossOutcome:
    """A drain under a limit, the fleet's Redis keys deleted half-way: the busiest second the
    API saw (every command received, a refused one too), in fixed windows of the clock and in a
    sliding one, over the whole drain and from the loss on."""

    scenario: str
    conferences: int
    limit: int
    deleted: list[str] = field(default_factory=list)  # the keys that were there to delete
    lost_after: float = 0.0  # seconds from the first command to the loss
    busiest_fixed: int = 0
    busiest_sliding: int = 0
    busiest_fixed_after: int = 0
    busiest_sliding_after: int = 0
    attempts: int = 0
    rate_limited: int = 0
    rate_limited_after: int = 0
    accepted: int = 0
    repeated: int = 0
    dead_lettered: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.attempts if self.attempts else 0.0


FLEET_KEYS = ("tcw:fleet*",)


def delete_keys(cluster: Cluster, keys: tuple[str, ...]) -> list[str]:
    """Delete each key named, a glob pattern standing for every key it matches; the names of
    those that were there."""
    client = cluster.redis()
    try:
        found: list[str] = []
        for key in keys:
            matched = client.scan_iter(match=key) if any(c in key for c in "*?[") else [key]
            found += [k.decode() if isinstance(k, bytes) else str(k) for k in matched]
        return [k for k in dict.fromkeys(found) if client.delete(k)]
    finally:
        client.close()


def hash_lost(
    conferences: int = 300,
    limit: int = 20,
    workers: int = 2,
    *,
    keys: tuple[str, ...] = FLEET_KEYS,
    at: float = 0.5,
    window: Window = Window.FIXED,
    rounding: Rounding = Rounding.UP,
    retry_after: bool = True,
) -> HashLossOutcome:
    """`conferences` record_starts drained under `limit` commands/s; once a share `at` of them
    is accepted, the fleet's `keys` (names or glob patterns) are deleted."""
    told = Limit(limit, window, rounding, retry_after)
    outcome = HashLossOutcome(f"fleet keys lost mid-drain, {told}", conferences, limit)
    with Cluster() as cluster:
        state = cluster.api.state
        told.apply(state)
        for _ in range(workers):
            cluster.add_worker()
        # Given a drain under way
        delivered = cluster.deliver_in_background([encode(e) for e in created(conferences)])
        wait(lambda: state.accepted_commands >= conferences * at, 60 + conferences / limit * 3)
        # When the fleet's state is lost
        lost_at = time.time()
        outcome.deleted = delete_keys(cluster, keys)
        delivered.result()
        wait(lambda: state.accepted_commands >= conferences, 60 + conferences / limit * 3)
        cluster.wait_until_quiet(30)
        _measure_loss(cluster, outcome, lost_at)
    return outcome


def _measure_loss(cluster: Cluster, outcome: HashLossOutcome, lost_at: float) -> None:
    requests = [r for r in cluster.api.state.requests() if r.action]
    moments = [r.received_at for r in requests]
    outcome.lost_after = lost_at - min(moments, default=lost_at)
    outcome.busiest_fixed = timestamps.busiest_fixed(moments)
    outcome.busiest_sliding = timestamps.busiest_sliding(moments)
    outcome.busiest_fixed_after = timestamps.busiest_fixed(moments, since=lost_at)
    outcome.busiest_sliding_after = timestamps.busiest_sliding(moments, since=lost_at)
    outcome.attempts = len(requests)
    outcome.rate_limited = sum(r.status == 429 for r in requests)
    outcome.rate_limited_after = sum(r.status == 429 for r in requests if r.received_at >= lost_at)
    accepted = [r for r in requests if r.action == "record_start" and 200 <= r.status < 300]
    outcome.accepted = sum(not r.duplicate for r in accepted)
    outcome.repeated = sum(r.duplicate for r in accepted)
    outcome.dead_lettered = len(dead_letters(cluster))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "scenario", choices=["rate-limit", "outage", "outage-sigkill", "priorities", "hash-lost"]
    )
    parser.add_argument("--conferences", type=int, default=0, help="conferences created")
    parser.add_argument("--seconds", type=float, default=150.0, help="the outage's length")
    parser.add_argument("--limit", type=int, default=0, help="commands a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", choices=list(Window), default=Window.FIXED)
    parser.add_argument("--rounding", choices=list(Rounding), default=Rounding.UP)
    parser.add_argument("--no-retry-after", action="store_true", help="429s without Retry-After")
    parser.add_argument("--skew", type=float, help="rate-limit: one worker's clock off (s)")
    parser.add_argument("--running", type=int, default=100, help="priorities: joined")
    parser.add_argument(
        "--key", action="append", help="hash-lost: a key or pattern to delete (repeatable)"
    )
    args = parser.parse_args()
    window, rounding = Window(args.window), Rounding(args.rounding)
    retry_after = not args.no_retry_after
    result: FleetOutcome | PriorityOutcome | HashLossOutcome
    match args.scenario:
        case "rate-limit":
            try:
                result = rate_limited(
                    args.conferences or 1200, args.limit or 60, args.workers,
                    window=window, rounding=rounding, retry_after=retry_after, skew=args.skew,
                )  # fmt: skip
            except skewed_clock.ClockSkewUnavailable as unavailable:
                print(f"SKIPPED: rate-limit with a skewed clock: {unavailable}")
                return 0
        case "priorities":
            result = priorities(
                args.running, args.conferences or 200, args.limit or 20, args.workers,
                window=window, rounding=rounding, retry_after=retry_after,
            )  # fmt: skip
        case "hash-lost":
            result = hash_lost(
                args.conferences or 300, args.limit or 20, args.workers,
                keys=tuple(args.key or FLEET_KEYS),
                window=window, rounding=rounding, retry_after=retry_after,
            )  # fmt: skip
        case _:
            kill = args.scenario == "outage-sigkill"
            result = outage(args.conferences or 200, args.seconds, kill_a_worker=kill)
    print(result, f"429 share {result.share_429:.2%}", sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
