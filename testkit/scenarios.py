"""Fault scenarios: a burst of conference webhooks while something breaks, and what the
Telnyx API received. Run small by the test suite and large by bench/reliability.py."""

from __future__ import annotations

import functools
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from records.deadletters import DeadLetters
from sandbox.api.faults import FaultRates
from sandbox.events import client_state, encode, make_event
from sandbox.redis_server import SentinelTopology
from testkit.announcements import Covered, covered
from testkit.failover_watch import FailoverWatch
from testkit.harness import (
    Cluster,
    accepted_by_command,
    expected_announcements,
    expected_commands,
    wait,
)
from testkit.loss_report import explain
from testkit.supervisor import restart_as_replica

TELNYX_WINDOW_SECONDS = 60.0


@dataclass
class Outcome:
    scenario: str
    sent: int = 0
    acknowledged: int = 0
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    lost: int = 0
    dead_lettered: int = 0
    announced: int = 0  # joins and leaves to announce (included in expected)
    speaks: int = 0  # the speak commands that announced them (merged in bursts)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.acknowledged == self.sent


def conference_burst(conferences: int, joins: int) -> list[dict[str, Any]]:
    """Each conference is created and then joined `joins` times, by named participants."""
    events: list[dict[str, Any]] = []
    for c in range(conferences):
        conference_id = str(uuid.uuid4())
        events.append(make_event("conference.created", conference_id=conference_id))
        events += [
            make_event(
                "conference.participant.joined",
                conference_id=conference_id,
                client_state=client_state({"name": f"Caller {c}-{j}"}),
            )
            for j in range(joins)
        ]
    return events


def measure(
    name: str, cluster: Cluster, events: list[dict[str, Any]], acked: list[bool], started: float
) -> Outcome:
    """Compare what the API accepted with what the acknowledged events call for."""
    acknowledged = [e for e, ok in zip(events, acked, strict=True) if ok]
    announcement_ids, announced = expected_announcements(acknowledged)
    expected = {
        k: v for k, v in expected_commands(acknowledged).items() if k not in announcement_ids
    }
    accepted = accepted_by_command(cluster.api.state.requests())
    delivered = sum(1 for command_id in expected if command_id in accepted)
    tally = tally_announcements(announced, accepted)
    # A repeat Telnyx would act on again: accepted twice, the second time past its window.
    duplicated = sum(
        1
        for requests in accepted.values()
        for r in requests[1:]
        if r.repeat_after is None or r.repeat_after > TELNYX_WINDOW_SECONDS
    )
    resent = sum(len(requests) - 1 for requests in accepted.values())
    client = cluster.redis()
    outcome = Outcome(
        scenario=name,
        sent=len(events),
        acknowledged=len(acknowledged),
        expected=len(expected) + tally.expected,
        delivered=delivered + tally.covered,
        duplicated=duplicated + tally.doubled,
        lost=len(expected) - delivered + tally.lost,
        announced=tally.expected,
        speaks=tally.speaks,
        dead_lettered=DeadLetters(client).count(),
        seconds=time.monotonic() - started,
    )
    client.close()
    if resent:
        outcome.notes.append(
            f"{resent} command(s) resent with the same command_id inside Telnyx's 60 s window "
            "(in flight when their worker died, or their done record lost with a Redis "
            "primary; Telnyx ignores the repeat)"
        )
    return outcome


@dataclass
class Tally:
    """Join and leave announcements: whom the acknowledged events call to announce, and whom
    the accepted speaks covered, by name or by count (read back from their text)."""

    expected: int = 0
    covered: int = 0  # of those expected, at most once each
    lost: int = 0
    doubled: int = 0
    speaks: int = 0


def tally_announcements(
    announced: dict[str, list[str | None]], accepted: dict[str, list[Any]]
) -> Tally:
    tally = Tally()
    said: dict[str, list[Covered]] = {}
    for requests in accepted.values():
        first = requests[0]  # (repeats of one command_id: see the duplicate count)
        text = (first.body or {}).get("payload")
        found = covered(text) if first.action == "speak" and isinstance(text, str) else None
        if found is not None:
            said.setdefault(str(first.target), []).append(found)
            tally.speaks += 1
    for conference_id, names in announced.items():
        spoken = said.get(conference_id, [])
        total = sum(c.total for c in spoken)
        times_named = Counter(n for c in spoken for n in c.named)
        tally.expected += len(names)
        tally.covered += min(total, len(names))
        tally.lost += max(len(names) - total, 0)
        tally.doubled += max(total - len(names), sum(n - 1 for n in times_named.values()))
    return tally


def _run(
    name: str,
    cluster: Cluster,
    events: list[dict[str, Any]],
    fault: Callable[[], None] | None,
    *,
    trigger_fraction: float = 0.25,
    bodies: list[bytes] | None = None,
    timeout: float = 120.0,
    rate: float | None = None,
    explain: Callable[[list[bool]], str] | None = None,
) -> Outcome:
    started = time.monotonic()
    # A conference's announcements merge into fewer commands than events: count the trigger
    # in conferences (each gets its record_start and at least one announcement).
    conferences = sum(e["data"]["event_type"] == "conference.created" for e in events)
    sending = cluster.deliver_in_background(bodies or [encode(e) for e in events], rate=rate)
    if fault is not None:
        cluster.wait_for_commands(max(1, int(2 * conferences * trigger_fraction)), timeout)
        fault()
    acked = sending.result(timeout=timeout)
    if bodies is not None:  # several deliveries per event: acknowledged if any was
        acked = [True] * len(events)
    # (Announcements merge into fewer commands than follow-ups: wait for the work to settle.)
    quiet = cluster.wait_until_quiet(timeout)
    outcome = measure(name, cluster, events, acked, started)
    if not quiet:
        outcome.notes.append(f"work still queued, held or pending after {timeout:g} s")
    if explain is not None and (outcome.lost or outcome.duplicated):
        outcome.notes.append(explain(acked))
    return outcome


def sigkill_worker(conferences: int = 20, joins: int = 4) -> Outcome:
    """SIGKILL one of two workers mid-burst; the other finishes its work."""
    with Cluster(env={}) as cluster:
        cluster.api.state.latency = 0.05
        victim, _ = cluster.add_worker(), cluster.add_worker()
        events = conference_burst(conferences, joins)
        return _run(
            "SIGKILL a worker", cluster, events, lambda: victim.signal_group(signal.SIGKILL)
        )


def sigterm_worker_group(conferences: int = 20, joins: int = 4) -> Outcome:
    """SIGTERM a worker's whole process group mid-burst, as a PaaS does; a new one starts."""
    with Cluster() as cluster:
        cluster.api.state.latency = 0.05
        victim = cluster.add_worker()
        events = conference_burst(conferences, joins)

        stopped_in_time: list[bool] = []

        def restart() -> None:
            victim.signal_group(signal.SIGTERM)
            # The platform waits 30 s for the process to go before it SIGKILLs it. (A cold
            # shutdown, which REMAP_SIGTERM=SIGQUIT makes of SIGTERM, exits with status 1.)
            stopped_in_time.append(wait(lambda: victim.process.poll() is not None, 30))
            if not stopped_in_time[-1]:
                victim.signal_group(signal.SIGKILL)
            cluster.add_worker()

        outcome = _run("SIGTERM the worker group", cluster, events, restart)
        if stopped_in_time != [True]:
            outcome.notes.append("the worker did not stop within 30 s of SIGTERM and was killed")
        return outcome


def stalled_redis(conferences: int = 20, joins: int = 4, stall: float = 8.0) -> Outcome:
    """SIGSTOP Redis mid-drain for longer than the visibility timeout (6 s here), so drains
    outlive their leases and messages are handed out again, then SIGKILL one of two workers."""
    with Cluster(persistent_redis=True) as cluster:
        cluster.api.state.latency = 0.05
        victim, _ = cluster.add_worker(), cluster.add_worker()
        events = conference_burst(conferences, joins)

        def fault() -> None:
            cluster.redis_server.pause()
            time.sleep(stall)  # the fault's length, not a synchronisation
            cluster.redis_server.resume()
            victim.signal_group(signal.SIGKILL)

        return _run(
            f"SIGSTOP Redis {stall:g}s, then SIGKILL a worker",
            cluster,
            events,
            fault,
            timeout=180.0,
        )


def restart_redis(conferences: int = 20, joins: int = 4) -> Outcome:
    """Restart Redis (with AOF persistence) mid-burst; ingest answers 503 meanwhile."""
    with Cluster(persistent_redis=True) as cluster:
        cluster.api.state.latency = 0.02
        cluster.add_worker()
        events = conference_burst(conferences, joins)
        return _run(
            "restart Redis", cluster, events, cluster.redis_server.restart, trigger_fraction=0.3
        )


def primary_failover(
    conferences: int = 20,
    joins: int = 4,
    min_replicas: int = 1,
    rate: float = 10.0,
    replica_lag: float = 1.0,
    api_latency: float = 0.02,
    replicas: int = 1,
    diagnose: bool = True,
) -> Outcome:
    """SIGKILL the Redis primary mid-burst, with a replica and three Sentinels. The Sentinels
    promote the replica; the dead primary is started again once they have, as a supervisor
    would, as a replica of the promoted one (testkit/supervisor.py). With `min_replicas`,
    acknowledgements wait for replicas.

    The first replica is stalled (SIGSTOP) and cut off for `replica_lag` seconds just before the
    primary dies, so the primary has writes that replica lacks: what asynchronous replication
    risks whenever a replica lags (on loopback it is otherwise a fraction of a millisecond
    behind).

    With `diagnose`, every Redis server is watched (MONITOR) and a loss or a double is
    explained in the outcome's notes (testkit/loss_report.py)."""
    topology = SentinelTopology(replicas=replicas, sentinels=3)
    env = {"REDIS_MIN_REPLICAS": str(min_replicas)}
    with Cluster(sentinel=topology, env=env) as cluster:
        # A slower API leaves a backlog in the queue: events acknowledged, not yet acted on.
        cluster.api.state.latency = api_latency
        worker = cluster.add_worker()
        events = conference_burst(conferences, joins)
        timings: dict[str, float] = {}
        watch = FailoverWatch(topology.servers)
        if diagnose:
            assert cluster.web is not None
            watch.name_processes({"worker": worker, "web": cluster.web})
            watch.start()

        def fail_over() -> None:
            old, replica = topology.primary, topology.replicas[0]
            replica.pause()
            # Cut its replication link too: data already in the socket's buffers would
            # otherwise still reach the replica when it resumes.
            primary = redis.Redis(port=old.port, socket_timeout=2)
            primary.execute_command("CLIENT", "KILL", "TYPE", "replica")  # type: ignore[no-untyped-call]
            primary.close()
            # The fault itself: the replica misses this stretch of the stream.
            time.sleep(replica_lag)
            timings["killed"] = time.monotonic()
            old.kill()
            replica.resume()
            promoted = topology.wait_for_promotion(old)
            timings["promoted"] = time.monotonic()
            timings["old_port"] = old.port
            timings["restarted_at"] = time.time()
            # As a replica of the promoted primary: started as the primary it was, empty, a
            # second failover could promote it and wipe everything (testkit/supervisor.py).
            restart_as_replica(old, promoted)

        name = (
            f"SIGKILL the Redis primary ({replicas} replica(s), REDIS_MIN_REPLICAS={min_replicas})"
        )

        def explained(acked: list[bool]) -> str:
            return explain(cluster, events, acked, watch, timings)

        try:
            # A stream over several seconds, still arriving when the primary dies.
            outcome = _run(
                name, cluster, events, fail_over, trigger_fraction=0.2, rate=rate,
                explain=explained if diagnose else None,
            )  # fmt: skip
        finally:
            watch.stop()
        refused = [t for t, _ in cluster.refusals if t >= timings.get("killed", 0)]
        promotion = timings["promoted"] - timings["killed"]
        statuses = sorted({str(status) for _, status in cluster.refusals})
        if set(statuses) - {"503"}:
            outcome.notes.append(f"answers other than 503 while Redis failed over: {statuses}")
        if refused:
            outcome.notes.append(
                f"ingest answered 503 for {refused[-1] - timings['killed']:.1f} s after the "
                f"primary died (promotion after {promotion:.1f} s; Telnyx redelivers)"
            )
        else:
            outcome.notes.append(f"no 503 (promotion after {promotion:.1f} s)")
        return outcome


def failing_api(conferences: int = 20, joins: int = 4, ended: int = 3) -> Outcome:
    """30 % of API calls fail with 5xx, 10 % with 429, 5 % time out; some conferences have
    ended (422 90019): those are not retried."""
    with Cluster() as cluster:
        cluster.add_worker()
        cluster.add_worker()
        cluster.api.state.set_rates(
            FaultRates(server_error=0.30, rate_limited=0.10, timeout=0.05, seed=7)
        )
        events = conference_burst(conferences, joins)
        gone = {e["data"]["payload"]["conference_id"] for e in events[: ended * (joins + 1)]}
        for conference_id in gone:
            cluster.api.state.end_conference(conference_id)
        live = [e for e in events if e["data"]["payload"]["conference_id"] not in gone]
        started = time.monotonic()
        acked = cluster.deliver([encode(e) for e in events])
        cluster.wait_until_quiet(120)
        outcome = measure(
            "API failing 30% 5xx, 10% 429, 5% timeouts",
            cluster,
            live,
            acked[len(events) - len(live) :],
            started,
        )
        outcome.sent = len(events)
        outcome.acknowledged = sum(acked)
        refused = [r for r in cluster.api.state.requests() if r.target in gone]
        after_422 = _requests_after_a_422(refused)
        outcome.notes.append(
            f"{sum(r.status == 422 for r in refused)} command(s) for ended conferences answered "
            f"422; {after_422} sent again after the 422"
        )
        outcome.lost += after_422  # a 422 retried is a failure of the policy: surface it
        return outcome


def _requests_after_a_422(requests: list[Any]) -> int:
    refused: set[Any] = set()
    again = 0
    for request in sorted(requests, key=lambda r: r.received_at):
        command_id = (request.body or {}).get("command_id")
        if command_id in refused:
            again += 1
        if request.status == 422:
            refused.add(command_id)
    return again


def redelivered_webhooks(conferences: int = 20, joins: int = 4, copies: int = 3) -> Outcome:
    """Every webhook delivered three times, concurrently and out of order."""
    with Cluster() as cluster:
        cluster.add_worker()
        cluster.add_worker()
        events = conference_burst(conferences, joins)
        bodies = []
        for event in events:
            for attempt in range(1, copies + 1):
                bodies.append(encode({**event, "meta": {"attempt": attempt}}))
        random.Random(3).shuffle(bodies)
        return _run("every webhook delivered 3 times", cluster, events, None, bodies=bodies)


def crowds(scenario: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """The scenario with crowds: a conference for every 25 of the usual ones, each joined by
    `joins` x 25 people at once (100 for the default 4), whose announcements the lanes merge."""

    def run(conferences: int = 20, joins: int = 4) -> Outcome:
        outcome = scenario(conferences=max(1, conferences // 25), joins=joins * 25)
        outcome.scenario += ", crowds"
        return outcome

    return run


SCENARIOS: dict[str, Callable[..., Outcome]] = {
    "sigkill": sigkill_worker,
    "sigterm": sigterm_worker_group,
    "redis-restart": restart_redis,
    "sigkill-crowds": crowds(sigkill_worker),
    "sigterm-crowds": crowds(sigterm_worker_group),
    "redis-restart-crowds": crowds(restart_redis),
    "api-faults": failing_api,
    "stall": stalled_redis,
    "stall-crowds": crowds(stalled_redis),
    "redelivery": redelivered_webhooks,
    # At scale: events arrive faster than the workers act on them, so a backlog is queued
    # when the primary dies (the test suite runs the plain scenario, small).
    "failover": functools.partial(primary_failover, rate=40.0, api_latency=0.3),
    # (Without replicas to wait for, acknowledged events are lost: expected, not explained.)
    "failover-unreplicated": functools.partial(
        primary_failover, min_replicas=0, rate=40.0, api_latency=0.3, diagnose=False
    ),
    "failover-two-replicas": functools.partial(
        primary_failover, replicas=2, rate=40.0, api_latency=0.3
    ),
}
