"""What each event leaves behind in Redis, and the Redis plans that carry it (issue 33).

    scripts/bench memory                       # 2,000 conferences, each created, then joined once
    scripts/bench memory --conferences 500     # shorter
    scripts/bench memory --env TIMELINE_RETENTION_HOURS=24   # a setting other than its default

As a new user would run it: a private Redis, the local Telnyx API, the Procfile's web and
worker processes (testkit/harness.py's Cluster), every retention setting at its default. Each
conference is created and then joined by one named participant (two webhooks, two commands).
Once every command is accepted and nothing is queued, every key of ours is weighed
(MEMORY USAGE, all of each value sampled) and Redis's own count (INFO's used_memory, what
maxmemory is compared with) is read; both less what they were before the run, over the events.

Then the broker's share: what a queued event takes while no worker consumes (the message in
the queue and in the journal, and its records), and Redis at rest with the processes connected.

Prints the bytes and keys per event by family, and the plan table: the events a day, and
events per second sustained, that a 30 MB, 250 MB, 1 GB and 5 GB Redis carries at these
retention settings, filled to 80 % (where TelnyxRedisMemoryHigh fires), the rest kept for a
backlog.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from collections import Counter
from dataclasses import dataclass

import redis

from sandbox.events import encode
from testkit.harness import Cluster
from testkit.scenarios import conference_burst

MB = 1024 * 1024
PLANS = (("30 MB", 30 * MB), ("250 MB", 250 * MB), ("1 GB", 1024 * MB), ("5 GB", 5 * 1024 * MB))
# The share of maxmemory the records may fill: TelnyxRedisMemoryHigh fires past it; the rest
# holds a backlog (a worker outage, a burst).
FILL = 0.8
# An id in a key's name (a UUID, hex, a call control id), for grouping keys by family.
_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|v3:[\w-]+|[0-9a-f]{16,}"
)


def family(key: bytes) -> str:
    """A key's name with its ids replaced: tcw:lane:<id>:q."""
    return _ID.sub("<id>", key.decode(errors="replace"))


def weigh(client: redis.Redis) -> tuple[Counter[str], Counter[str]]:
    """Bytes (MEMORY USAGE) and keys, by family, of every key in the database."""
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for key in client.scan_iter(count=1000):
        name = family(key)
        sizes[name] += int(client.memory_usage(key, samples=0) or 0)
        counts[name] += 1
    return sizes, counts


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


@dataclass
class Measured:
    events: int
    sizes: Counter[str]  # bytes kept, by family, over the run
    counts: Counter[str]  # keys kept, by family
    used: int  # used_memory's growth over the run
    at_rest: int  # used_memory with the processes connected, before any event
    queued: float  # used_memory per event queued while no worker consumes
    ttls: dict[str, int]  # seconds each family is kept (its key's TTL when weighed)

    @property
    def per_event(self) -> float:
        return sum(self.sizes.values()) / self.events

    @property
    def used_per_event(self) -> float:
        return self.used / self.events

    def byte_seconds(self) -> float:
        """Per event: each family's bytes times how long it is kept (its TTL). Steady state at
        r events a second holds r times this."""
        total = sum(self.sizes.values()) or 1
        weighted = sum(size * self.ttls.get(name, 0) for name, size in self.sizes.items())
        # used_memory counts a little more than the keys' own sizes (dict and expiry
        # entries): spread it in proportion.
        return weighted / total * self.used_per_event


def measure(conferences: int, env: dict[str, str]) -> Measured:
    events = conference_burst(conferences, joins=1)
    warm_up = conference_burst(10, joins=1)
    with Cluster(env=env) as cluster:
        client = cluster.redis()
        worker = cluster.add_worker()
        at_rest = used_memory(client)
        # A few conferences first, so that the scripts are loaded and the connections warm.
        run(cluster, warm_up, len(warm_up))
        before_sizes, before_counts = weigh(client)
        before = used_memory(client)
        run(cluster, events, len(warm_up) + len(events))
        sizes, counts = weigh(client)
        used = used_memory(client) - before
        ttls = {family(k): int(client.ttl(k)) for k in client.scan_iter(count=1000)}
        sizes.subtract(before_sizes)
        counts.subtract(before_counts)
        # The broker's share: events queued while no worker consumes.
        worker.stop(timeout=20)
        cluster.workers.remove(worker)
        backlog = conference_burst(250, joins=1)
        start = used_memory(client)
        if not all(cluster.deliver([encode(e) for e in backlog], concurrency=16)):
            raise RuntimeError("the backlog was not acknowledged")
        queued = (used_memory(client) - start) / len(backlog)
        client.close()
    return Measured(len(events), sizes, counts, used, at_rest, queued, ttls)


def run(cluster: Cluster, events: list[dict[str, object]], commands: int) -> None:
    """Deliver `events`, and wait until `commands` commands were accepted in all and nothing
    is queued, held or pending."""
    if not all(cluster.deliver([encode(e) for e in events], concurrency=16)):
        raise RuntimeError("not every webhook was acknowledged")
    if not cluster.wait_for_commands(commands, timeout=600):
        raise RuntimeError("not every command was accepted")
    if not cluster.wait_until_quiet(timeout=120):
        raise RuntimeError("the queue did not empty")


def report(m: Measured, env: dict[str, str]) -> str:
    lines = [
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"{m.events // 2} conferences x 2 events (created, one named join), web + 1 worker"
        + (f", {' '.join(f'{k}={v}' for k, v in env.items())}" if env else ""),
        "",
        "| key family | keys per event | bytes per event (MEMORY USAGE) | kept for |",
        "|---|---|---|---|",
    ]
    for name, size in sorted(m.sizes.items(), key=lambda kv: -kv[1]):
        if abs(size) < m.events and not m.counts[name]:
            continue
        lines.append(
            f"| `{name}` | {m.counts[name] / m.events:.2f} | {size / m.events:.1f} "
            f"| {_duration(m.ttls.get(name, -1))} |"
        )
    lines += [
        f"| **all** | **{sum(m.counts.values()) / m.events:.2f}** | **{m.per_event:.0f}** | |",
        "",
        f"used_memory: {m.used_per_event:.0f} bytes per event kept; {m.queued:.0f} per event "
        f"queued (no worker); Redis at rest with web and worker connected: {m.at_rest / MB:.1f} MB",
        "",
        plans(m),
    ]
    return "\n".join(lines)


def plans(m: Measured) -> str:
    held = m.byte_seconds()
    lines = [
        f"| Redis | events a day | events/s sustained | backlog in the other {1 - FILL:.0%} |",
        "|---|---|---|---|",
    ]
    for name, size in PLANS:
        usable = FILL * size - m.at_rest
        rate = max(usable, 0) / held
        backlog = (1 - FILL) * size / m.queued
        lines.append(
            f"| {name} | {rate * 86400:,.0f} | {rate:,.1f} | {backlog:,.0f} events "
            f"({backlog / max(rate, 1e-9) / 60:,.0f} min at that rate) |"
        )
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    if seconds < 0:
        return "no expiry"
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds} s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conferences", type=int, default=2000)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print(report(measure(args.conferences, env), env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
