"""The fleet's Redis state lost mid-drain: the busiest second the API sees after it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sandbox.events import encode
from testkit import timestamps
from testkit.fleet_scenarios.outcomes import Limit, created, dead_letters
from testkit.harness import Cluster, wait


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
    conferences: int,
    limit: Limit,
    workers: int = 2,
    *,
    keys: tuple[str, ...] = FLEET_KEYS,
    at: float = 0.5,
) -> HashLossOutcome:
    """`conferences` record_starts drained under `limit`; once a share `at` of them is
    accepted, the fleet's `keys` (names or glob patterns) are deleted."""
    outcome = HashLossOutcome(f"fleet keys lost mid-drain, {limit}", conferences, limit.per_second)
    with Cluster() as cluster:
        state = cluster.api.state
        limit.apply(state)
        for _ in range(workers):
            cluster.add_worker()
        # Given a drain under way
        delivered = cluster.deliver_in_background([encode(e) for e in created(conferences)])
        patience = 60 + conferences / limit.per_second * 3
        wait(lambda: state.accepted_commands >= conferences * at, patience)
        # When the fleet's state is lost
        lost_at = time.time()
        outcome.deleted = delete_keys(cluster, keys)
        delivered.result()
        wait(lambda: state.accepted_commands >= conferences, patience)
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
