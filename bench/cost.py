"""Cost per event against its floor, every figure beside its baseline from the same run.

    scripts/bench cost                      # both parts, three rounds each (about 6 minutes)
    scripts/bench cost worker --rounds 5    # one part, five rounds
    scripts/bench cost --worker-root DIR    # the worker of another checkout (a "before" row)

worker: one worker process (the Procfile's line, concurrency 32) drains a backlog of
`conference.created` events (each its own conference: one record_start each) against the
local Telnyx API at 100 ms of latency. The floor is bench/floor.py: a Celery task that makes
the same API call and nothing else, on the same Redis broker, threads pool of 32, acks late,
no gossip, mingle, heartbeat or task events. CPU per event is the worker process's user +
system time from /proc between 20 % and 80 % of the drain, over the events completed in
between; the drain rate is over the same window. Rounds alternate floor and worker, so a
machine that speeds up or slows down moves both; the table gives the medians.

ingest: signed webhooks per second through the Procfile's web line on gunicorn.conf.py, ours
against a no-op Flask route on the same configuration (bench/apps.py), wrk with 16 kept-alive
connections when it is installed (else bench/loadgen.py, whose own CPU shares the cores).

Targets: worker CPU per event <= 1.5 x the floor (1.3 stretch); ingest >= 0.6 x the no-op
route (0.7 stretch); one worker process drains >= 250 events/s at 100 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import floor
from bench.lanes import cpu_seconds
from bench.performance import Bench, children, peak_rss_mb
from core.naming import HANDLE_EVENT, event_task_id
from records.journal import Journal
from records.messages import celery_message
from sandbox.events import encode
from sandbox.redis_server import RedisServer
from testkit.harness import wait
from testkit.processes import ManagedProcess, procfile
from testkit.scenarios import conference_burst

FLOOR_WORKER = (
    "celery -A bench.floor worker --pool threads --concurrency 32 --queues floor "
    "--without-gossip --without-mingle --without-heartbeat --loglevel WARNING"
)
WINDOW = (0.2, 0.8)


@dataclass(frozen=True)
class Drain:
    cpu_ms: float  # worker CPU per event, mid-drain
    rate: float  # events per second, mid-drain
    redis_ms: float  # Redis server CPU per event, same window
    commands: dict[str, float]  # Redis commands per event over the whole drain, by name
    log_lines: float = 0.0  # lines the worker wrote per event
    rss_mb: float = 0.0  # the worker process's peak resident memory


class Sampler(threading.Thread):
    """Samples (time, commands accepted, worker CPU, Redis CPU) every 20 ms."""

    def __init__(self, api: object, worker_pid: int, redis_pid: int) -> None:
        super().__init__(daemon=True)
        self.api, self.worker_pid, self.redis_pid = api, worker_pid, redis_pid
        self.samples: list[tuple[float, int, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):  # a sampling period, not a synchronisation
            accepted = self.api.accepted()  # type: ignore[attr-defined]
            self.samples.append(
                (
                    time.monotonic(),
                    accepted,
                    cpu_seconds(self.worker_pid),
                    cpu_seconds(self.redis_pid),
                )
            )

    def window(self, total: int, commands: dict[str, float]) -> Drain:
        low = next(s for s in self.samples if s[1] >= total * WINDOW[0])
        high = next(s for s in self.samples if s[1] >= total * WINDOW[1])  # (of those accepted)
        events = high[1] - low[1]
        return Drain(
            cpu_ms=(high[2] - low[2]) * 1000 / events,
            rate=events / (high[0] - low[0]),
            redis_ms=(high[3] - low[3]) * 1000 / events,
            commands=commands,
        )


def drain(
    bench: Bench,
    which: str,
    events: int,
    worker_root: Path | None = None,
    profile: Path | None = None,
) -> Drain:
    """`profile`: py-spy's folded stacks of the worker over the drain, written there."""
    batch = conference_burst(events, joins=0)
    with bench.api(latency=0.1) as api, RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        env = bench.env(server.url, api.base_url, WORKER_CONCURRENCY="32", LOG_FORMAT="json")
        if which.startswith("floor"):
            command = FLOOR_WORKER
            env["FLOOR_SHARED_KOMBU_CLIENT"] = "1" if which == "floor+kombu" else "0"
        else:
            command = procfile()["worker"]
            if worker_root is not None:
                command = f"cd {worker_root} && {command}"
                env["PYTHONPATH"] = str(worker_root)
        worker = ManagedProcess(which, command, env)
        try:
            worker.wait_until(
                lambda: " ready." in worker.output() or "celery@" in worker.output(), 60
            )
            if which.startswith("floor"):
                for event in batch:
                    data = event["data"]
                    message = celery_message(
                        floor.TASK, data["id"], [data["payload"]["conference_id"], data["id"]],
                        "", queue=floor.QUEUE,
                    )  # fmt: skip
                    client.lpush(floor.QUEUE, message)
            else:
                journal = Journal(client)
                for event in batch:
                    task_id = event_task_id(event["data"]["id"])
                    message = celery_message(HANDLE_EVENT, task_id, [encode(event).decode()], "")
                    journal.publish(task_id, message)
            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(worker.pid), "--rate", "250", "--format",
                     "raw", "--output", str(profile), "--gil", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
            sampler = Sampler(api, worker.pid, server.pid)
            sampler.start()
            # The floor has no retries: a command the API simulator drops (a reset connection)
            # is lost to it. A tenth of a percent is let go there; never for the worker.
            expected = events if which == "worker" else int(events * 0.999)
            drained = wait(lambda: api.accepted() >= expected, 300)
            sampler.done.set()
            sampler.join()
            if not drained:
                raise RuntimeError(f"{which}: only {api.accepted()} of {events} commands accepted")
            rss = peak_rss_mb(worker.pid)
            stats = client.info("commandstats")
            commands = {
                name.removeprefix("cmdstat_"): int(value["calls"]) / events
                for name, value in stats.items()
                if name != "cmdstat_info"
            }
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        finally:
            worker.stop()
            client.close()
    lines = sum(1 for line in worker.output().splitlines() if '"level"' in line or " INFO " in line)
    return dataclasses.replace(
        sampler.window(events, commands), log_lines=lines / events, rss_mb=rss
    )


def ingest(bench: Bench, profile: Path | None = None) -> tuple[float, float, float, float]:
    """Webhooks/s for ours and the no-op route, and the web processes' CPU ms per request of
    each; `profile`: py-spy's stacks of one web worker process of each under the load,
    written there (no-op's beside it)."""
    requests = bench.signed_requests(int(4000 * bench.seconds), "cost-ingest")
    warm = bench.signed_requests(2000, "cost-ingest-warm")
    rates: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    for name, app in (("no-op", "bench.apps:noop_app()"), ("ours", "ingest.wsgi:app")):
        with RedisServer() as server, bench.web(app, server.url) as (url, web):
            bench.throughput(url, warm, connections=8, seconds=1)  # warm up
            spy = None
            if profile is not None:
                target = (
                    profile if name == "ours" else profile.with_suffix(".noop" + profile.suffix)
                )
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(children(web.pid)[0]), "--rate", "250",
                     "--format", "raw", "--output", str(target), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
            workers = children(web.pid)
            before = sum(cpu_seconds(pid) for pid in workers)
            rates[name] = bench.throughput(url, requests, connections=16)
            used = sum(cpu_seconds(pid) for pid in workers) - before
            cpu[name] = used * 1000 / (rates[name] * bench.seconds)
            rss[name] = max(peak_rss_mb(pid) for pid in workers)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
    print(
        f"  web peak RSS: ours {rss['ours']:.0f} MB, no-op {rss['no-op']:.0f} MB", file=sys.stderr
    )
    return rates["ours"], rates["no-op"], cpu["ours"], cpu["no-op"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", default=["worker", "ingest"], help="worker, ingest")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=10, help="length of each ingest run")
    parser.add_argument("--worker-root", type=Path, default=None)
    parser.add_argument(
        "--profile", type=Path, default=None,
        help="write py-spy's folded stacks of one more worker drain here (py-spy on PATH)",
    )  # fmt: skip
    args = parser.parse_args()
    bench = Bench(args.seconds)
    rows: list[str] = []
    if "worker" in args.parts and args.rounds > 0:
        floors: list[Drain] = []
        patched: list[Drain] = []
        ours: list[Drain] = []
        for r in range(args.rounds):
            floors.append(drain(bench, "floor", args.events))
            patched.append(drain(bench, "floor+kombu", args.events))
            ours.append(drain(bench, "worker", args.events, args.worker_root))
            print(
                f"  round {r + 1}: floor {floors[-1].cpu_ms:.2f} ms {floors[-1].rate:.0f}/s, "
                f"floor+kombu {patched[-1].cpu_ms:.2f} ms, "
                f"worker {ours[-1].cpu_ms:.2f} ms {ours[-1].rate:.0f}/s "
                f"(Redis {ours[-1].redis_ms:.3f} ms/event)",
                file=sys.stderr, flush=True,
            )  # fmt: skip

        def median(runs: list[Drain], measure: str) -> float:
            return float(statistics.median(getattr(d, measure) for d in runs))

        o_cpu, f_cpu, p_cpu = (median(x, "cpu_ms") for x in (ours, floors, patched))
        o_rate, f_rate = median(ours, "rate"), median(floors, "rate")
        o_redis, f_redis = median(ours, "redis_ms"), median(floors, "redis_ms")
        rows += [
            f"| worker CPU per event | {o_cpu:.2f} ms | floor {f_cpu:.2f} ms | {o_cpu / f_cpu:.2f} | <= 1.5 (1.3) |",
            f"| the same, against the floor with the worker's kombu change | {o_cpu:.2f} ms | floor+kombu {p_cpu:.2f} ms | {o_cpu / p_cpu:.2f} | |",
            f"| drain rate, 1 process, 100 ms API latency | {o_rate:.0f}/s | floor {f_rate:.0f}/s; threads allow 320/s | {o_rate / f_rate:.2f} | >= 250/s |",
            f"| Redis CPU per event | {o_redis:.3f} ms | floor {f_redis:.3f} ms | {o_redis / f_redis:.1f} | |",
            f"| Redis commands per event (scripts) | {sum(ours[-1].commands.values()):.1f} ({ours[-1].commands.get('evalsha', 0):.1f}) | floor {sum(floors[-1].commands.values()):.1f} | | |",
            f"| worker log lines per event | {ours[-1].log_lines:.1f} | | | |",
            f"| worker peak RSS | {max(d.rss_mb for d in ours):.0f} MB | floor {max(d.rss_mb for d in floors):.0f} MB | | <= 150 MB |",
        ]
    if "ingest" in args.parts and args.rounds > 0:
        rounds = [ingest(bench) for _ in range(args.rounds)]
        for r, (ours_rate, noop, ours_ms, noop_ms) in enumerate(rounds, 1):
            print(f"  round {r}: ingest {ours_rate:.0f}/s {ours_ms:.3f} ms, "
                  f"no-op {noop:.0f}/s {noop_ms:.3f} ms", file=sys.stderr, flush=True)  # fmt: skip
        ours_rate, noop, ours_ms, noop_ms = (
            statistics.median(x) for x in zip(*rounds, strict=True)
        )
        ratios = ", ".join(f"{o / n:.2f}" for o, n, _, _ in rounds)
        rows += [
            f"| ingest: webhooks/s | {ours_rate:.0f} | no-op {noop:.0f} | {ours_rate / noop:.2f} (rounds: {ratios}) | >= 0.6 (0.7) |",
            f"| ingest: web CPU per webhook | {ours_ms:.3f} ms | no-op {noop_ms:.3f} ms | {noop_ms / ours_ms:.2f} | |",
        ]
    if args.profile is not None and "ingest" in args.parts:
        web_profile = args.profile.with_suffix(".web" + args.profile.suffix)
        ingest(bench, web_profile)
        print(f"  web profiles: {web_profile} (and .noop)", file=sys.stderr)
    if args.profile is not None and "worker" in args.parts:
        floor_profile = args.profile.with_suffix(".floor" + args.profile.suffix)
        drain(bench, "floor", args.events, profile=floor_profile)
        profiled = drain(bench, "worker", args.events, args.worker_root, args.profile)
        print(f"  profiles: {args.profile}, {floor_profile} (the floor's)", file=sys.stderr)
        print(
            f"  {profiled.cpu_ms:.2f} ms/event, {profiled.rate:.0f}/s (under py-spy), "
            f"{profiled.log_lines:.1f} log lines/event",
            file=sys.stderr,
        )
        print(
            "  Redis commands per event: "
            + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(profiled.commands.items(), key=lambda kv: -kv[1])
            ),
            file=sys.stderr,
        )
    load = "wrk" if shutil.which("wrk") else "bench/loadgen.py"
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"{args.events} events a drain, medians of {args.rounds} rounds, ingest load from {load}"
        + (f", worker from {args.worker_root}" if args.worker_root else "")
        + "\n"
    )
    print("| measure | ours | baseline, same run | ratio | target |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
