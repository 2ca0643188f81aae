"""Conference lanes: how fast a backlog drains across conferences, and the worker's CPU per event.

    scripts/bench lanes                        # 100 conferences x 3 events against 300 x 1
    scripts/bench lanes --runs 3               # each measured three times
    scripts/bench lanes --worker-root DIR      # the worker of another checkout of this project
                                               # (e.g. the previous release), for a comparison

Each run starts a private Redis, the local Telnyx API in a process of its own with 100 ms of
latency, and one worker process from the Procfile (concurrency 32). The events are queued as
the web process queues them, all at once once the worker is up, so the run measures the
worker alone: from the worker's first command to its last, events per second; and the CPU
time the worker process used (user + system, from /proc), per event.

With three events a conference (created, then two joins), each conference's commands go out
one after another in its lane; with one, every command is independent. The ratio says what
the lanes cost when many conferences share the threads.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import redis

from bench.performance import Bench
from core.naming import HANDLE_EVENT, event_task_id
from records.journal import Journal
from records.messages import celery_message
from sandbox.events import encode
from sandbox.redis_server import RedisServer
from testkit.harness import wait
from testkit.processes import ManagedProcess, procfile
from testkit.scenarios import conference_burst

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def kept_bytes(client: redis.Redis) -> int:
    """The bytes every key in the database takes (MEMORY USAGE, all of each value sampled)."""
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in client.scan_iter())


def run(
    bench: Bench, conferences: int, per_conference: int, worker_root: Path | None
) -> tuple[float, float, int, float]:
    """Events per second, CPU ms per event, commands sent, Redis bytes kept per conference."""
    batch = conference_burst(conferences, joins=per_conference - 1)
    messages = []
    for event in batch:
        task_id = event_task_id(event["data"]["id"])
        argsrepr = f"conference={event['data']['payload']['conference_id']}"
        message = celery_message(HANDLE_EVENT, task_id, [encode(event).decode()], argsrepr)
        messages.append((task_id, message))
    with bench.api(latency=0.1) as api, RedisServer() as server:
        client, url = redis.Redis.from_url(server.url), server.url
        journal = Journal(client)
        command = procfile()["worker"]
        env = bench.env(url, api.base_url, WORKER_CONCURRENCY="32", LOG_FORMAT="json")
        if worker_root is not None:
            command = f"cd {worker_root} && {command}"
            env["PYTHONPATH"] = str(worker_root)
        worker = ManagedProcess("worker", command, env)
        try:
            worker.wait_until(lambda: " ready." in worker.output(), 60)
            before = cpu_seconds(worker.pid)
            for task_id, message in messages:
                journal.publish(task_id, message)
            quiet = lambda: client.zcard("tcw:journal:since") == 0  # noqa: E731
            if not wait(quiet, 300):
                raise RuntimeError(f"not drained: {client.zcard('tcw:journal:since')} pending")
            used = cpu_seconds(worker.pid) - before
            # What a conference leaves in Redis once drained (done records, lane state, its
            # timeline), until it expires: every key's own size, by MEMORY USAGE.
            kept = kept_bytes(client) / conferences
            times = sorted(r["received_at"] for r in api.requests() if r["status"] == 200)
        finally:
            worker.stop()
            client.close()
    rate = len(batch) / (times[-1] - times[0] + 0.1)  # (+ the last command's own latency)
    return rate, used * 1000 / len(batch), len(times), kept


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--worker-root", type=Path, default=None)
    args = parser.parse_args()
    bench = Bench(seconds=0)
    rows = []
    for conferences, per in ((300, 1), (100, 3)):
        results = [run(bench, conferences, per, args.worker_root) for _ in range(args.runs)]
        rate = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        kept = statistics.median(r[3] for r in results)
        each = [f"{r[0]:.0f}" for r in results]
        rows.append((conferences, per, rate, cpu, results[0][2], each, kept))
        print(f"  {conferences} x {per}: {rate:.0f} events/s, {cpu:.2f} ms CPU/event",
              file=sys.stderr, flush=True)  # fmt: skip
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"1 worker process (concurrency 32), 100 ms API latency, median of {args.runs} run(s)"
        + (f", worker from {args.worker_root}" if args.worker_root else "")
        + "\n"
    )
    print(
        "| conferences x events | events/s | worker CPU per event | Redis kept per conference "
        "| commands sent | runs |"
    )
    print("|---|---|---|---|---|---|")
    for conferences, per, rate, cpu, commands, each, kept in rows:
        print(
            f"| {conferences} x {per} | {rate:.0f} | {cpu:.2f} ms | {kept:.0f} bytes | {commands} "
            f"| {', '.join(each)} |"
        )
    ratio = rows[1][2] / rows[0][2]
    print(f"\n100 x 3 drains at {ratio:.2f} of the rate of 300 x 1 (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
