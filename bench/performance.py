"""Speed and memory of both ends, each figure beside a baseline measured in the same run.

    scripts/bench performance                 # everything, about three minutes
    scripts/bench performance --seconds 5     # shorter runs

Ingest: signed webhooks per second through gunicorn (the Procfile's web line) for our route,
for a no-op Flask route and for a naive verify + Celery send_task route; acknowledgement
latency at half our capacity. End to end: from the POST to the Telnyx API receiving the
command, at 50 events/s and in a burst of 1,000. Worker: actions per second with 100 ms of API
latency for one process (vs concurrency / latency, and vs Celery's default prefork pool) and
for two. Memory: peak RSS of a web and a worker process. Load comes from other processes
(`wrk` when installed, else bench/loadgen.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from core.naming import conference_task
from records.journal import Journal
from records.messages import celery_message
from sandbox.events import encode, make_event
from sandbox.redis_server import RedisServer, free_port
from sandbox.signer import WebhookSigner
from tasks.actions import followup_argsrepr
from testkit.harness import expected_commands, wait
from testkit.processes import ManagedProcess, procfile, start_worker

API_KEY = "KEY-bench"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))
        row = self.rows[-1]
        print(f"  {row.what}: {row.value} {row.baseline} {row.ratio}", file=sys.stderr, flush=True)

    def table(self) -> str:
        lines = ["| measure | value | baseline | ratio | target |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.what} | {r.value} | {r.baseline} | {r.ratio} | {r.target} |" for r in self.rows
        ]
        return "\n".join(lines)


class Bench:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.signer = WebhookSigner()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        self.report = Report()

    def env(
        self, redis_url: str, api_url: str = "http://127.0.0.1:9/v2", **extra: str
    ) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_URL": redis_url,
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_API_BASE_URL": api_url,
            "TELNYX_PUBLIC_KEY": self.signer.public_key,
            "PYTHONPATH": str(ROOT),
            **extra,
        }

    # --- requests ----------------------------------------------------------------------------
    def signed_requests(self, count: int, name: str) -> Path:
        """Distinct signed conference.created deliveries, fresh for the next few minutes: one
        JSON object a line (bench/loadgen.py's format), and beside it (`.http`) the same
        requests as wrk sends them, each after its length on a line of its own."""
        path = self.tmp / f"{name}.jsonl"
        now = int(time.time()) + 60
        with path.open("w") as f, path.with_suffix(".http").open("wb") as raw:
            for _ in range(count):
                body = encode(make_event("conference.created"))
                headers = self.signer.headers(body, now)
                f.write(json.dumps({"body": body.decode(), "headers": headers}) + "\n")
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                request = (
                    f"POST /webhooks/telnyx HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                raw.write(b"%d\n" % len(request) + request)
        return path

    def wrk_script(self, requests: Path, threads: int) -> Path:
        """Each of wrk's threads walks its own share of the deliveries in order, so no event is
        sent twice until all of them have been (a repeat is a duplicate: a cheaper path). The
        requests are read from the `.http` file: as Lua constants, tens of thousands pass Lua's
        limit."""
        raw = requests.with_suffix(".http")
        lua = f"""
local threads = 0
function setup(thread) thread:set("offset", threads); threads = threads + 1 end
local reqs = {{}}
function init(args)
  local f = assert(io.open("{raw}", "rb"))
  while true do
    local size = f:read("*l")
    if not size then break end
    reqs[#reqs + 1] = f:read(tonumber(size))
  end
  f:close()
end
local n = -1
request = function() n = n + 1; return reqs[(n * {threads} + offset) % #reqs + 1] end
"""
        path = requests.with_suffix(".lua")
        path.write_text(lua)
        return path

    def throughput(
        self, url: str, requests: Path, connections: int = 32, seconds: float | None = None
    ) -> float:
        """Requests/s over `seconds` (the bench's own by default): `requests` holds more
        deliveries than that many seconds send, so every one is a new event."""
        seconds = self.seconds if seconds is None else seconds
        if shutil.which("wrk"):
            script = self.wrk_script(requests, threads=2)
            out = subprocess.run(
                ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script), url],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            if "Non-2xx" in out:
                raise RuntimeError(f"some requests were refused:\n{out}")
            return float(
                next(
                    line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")
                )
            )
        result = self.loadgen("closed", url, requests, connections=connections, seconds=seconds)
        return float(result["rate"])

    def loadgen(self, mode: str, url: str, requests: Path, **options: float) -> dict[str, float]:
        args = [
            sys.executable,
            "-m",
            "bench.loadgen",
            mode,
            url,
            str(requests),
        ]
        for key, value in {"seconds": self.seconds, **options}.items():
            args += [f"--{key}", str(value)]
        out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        return dict(json.loads(out))

    @contextmanager
    def web(
        self, app: str, redis_url: str, config: str = ""
    ) -> Iterator[tuple[str, ManagedProcess]]:
        """The Procfile's web line serving `app`; `config` replaces gunicorn.conf.py."""
        port = free_port()
        command = procfile()["web"].replace("ingest.wsgi:app", f"'{app}'")
        if config:
            command = command.replace("gunicorn.conf.py", config)
        process = ManagedProcess("web", command, {**self.env(redis_url), "PORT": str(port)})
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        process.wait_until(up, 30)
        try:
            yield f"{url}/webhooks/telnyx", process
        finally:
            process.stop()

    # --- measurements ------------------------------------------------------------------------
    def ingest(self) -> float:
        requests = self.signed_requests(int(4000 * self.seconds), "ingest")
        warm = self.signed_requests(2000, "ingest-warm")
        rates: dict[str, float] = {}
        peak = 0.0
        for name, app, config in (
            ("no-op", "bench.apps:noop_app()", ""),
            ("ours", "ingest.wsgi:app", ""),
            ("naive", "bench.apps:naive_app()", ""),
            # The web line before gunicorn.conf.py: sync worker processes, no access log.
            ("ours, sync", "ingest.wsgi:app", "python:bench.previous_web"),
        ):
            with (
                RedisServer() as redis_server,
                self.web(app, redis_server.url, config) as (url, process),
            ):
                self.throughput(url, warm, connections=8, seconds=1)  # warm up
                rates[name] = self.throughput(url, requests)
                if name == "ours":
                    peak = max(peak_rss_mb(c) for c in children(process.pid))
        self.report.add(
            "ingest: webhooks/s (verified, queued)",
            f"{rates['ours']:.0f}",
            f"no-op {rates['no-op']:.0f}",
            f"{rates['ours'] / rates['no-op']:.2f}",
            ">= 0.7",
        )
        self.report.add(
            "ingest: naive verify + send_task",
            f"{rates['naive']:.0f}",
            f"no-op {rates['no-op']:.0f}",
            f"{rates['naive'] / rates['no-op']:.2f}",
            "(about 0.3)",
        )
        self.report.add(
            "ingest: ours vs naive",
            f"{rates['ours']:.0f}",
            f"naive {rates['naive']:.0f}",
            f"{rates['ours'] / rates['naive']:.1f}x",
        )
        self.report.add(
            "ingest: ours vs the sync-worker web line",
            f"{rates['ours']:.0f}",
            f"sync {rates['ours, sync']:.0f}",
            f"{rates['ours'] / rates['ours, sync']:.2f}",
            ">= 1.0",
        )
        self.report.add("memory: web process peak RSS", f"{peak:.0f} MB", "", "", "<= 80 MB")
        return rates["ours"]

    def ack_latency(self, capacity: float) -> None:
        rate = capacity / 2
        requests = self.signed_requests(int(rate * self.seconds) + 100, "latency")
        with (
            RedisServer() as redis_server,
            self.web("ingest.wsgi:app", redis_server.url) as (url, _),
        ):
            stats = self.loadgen("open", url, requests, rate=rate, connections=16)
        self.report.add(
            f"ingest: ack latency p50 at {rate:.0f}/s (half capacity)", f"{stats['p50_ms']:.1f} ms"
        )
        self.report.add(
            f"ingest: ack latency p99 at {rate:.0f}/s (half capacity)",
            f"{stats['p99_ms']:.1f} ms",
            "",
            "",
            "<= 10 ms",
        )

    def end_to_end(self) -> None:
        with RedisServer() as redis_server, self.api() as api:
            env = self.env(redis_server.url, api.base_url)
            worker = start_worker(env)
            try:
                with self.web("ingest.wsgi:app", redis_server.url) as (url, _):
                    steady = self._e2e(url, api, rate=50, count=int(50 * self.seconds))
                    burst = self._e2e(url, api, rate=None, count=1000)
            finally:
                worker.stop()
        self.report.add("end to end p50 at 50 events/s", f"{steady[0]:.1f} ms", "", "", "<= 10 ms")
        self.report.add("end to end p99 at 50 events/s", f"{steady[1]:.1f} ms", "", "", "<= 30 ms")
        self.report.add(
            "end to end p50 / p99, burst of 1,000", f"{burst[0]:.0f} / {burst[1]:.0f} ms"
        )

    def _e2e(
        self, url: str, api: ApiProcess, rate: float | None, count: int
    ) -> tuple[float, float]:
        api.reset()
        events = [make_event("conference.created") for _ in range(count)]
        sent: dict[str, float] = {}
        command_of = {e["data"]["id"]: cid for e in events for cid in expected_commands([e])}
        bodies = [(e["data"]["id"], encode(e)) for e in events]
        lock = threading.Lock()

        def send(chunk: list[tuple[str, bytes]], interval: float | None) -> None:
            with httpx.Client(timeout=10) as http:
                due = time.monotonic()
                for event_id, body in chunk:
                    if interval:
                        time.sleep(max(0.0, due - time.monotonic()))  # pacing, not synchronising
                        due += interval
                    with lock:
                        sent[command_of[event_id]] = time.time()
                    http.post(url, content=body, headers=self.signer.headers(body))

        threads_n = 4 if rate else 16
        chunks = [bodies[i::threads_n] for i in range(threads_n)]
        threads = [
            threading.Thread(target=send, args=(c, threads_n / rate if rate else None))
            for c in chunks
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait(lambda: api.accepted() >= count, 120)
        latencies = sorted(
            (r["received_at"] - sent[r["body"]["command_id"]]) * 1000
            for r in api.requests()
            if r["status"] == 200 and r["body"]["command_id"] in sent
        )
        return latencies[len(latencies) // 2], latencies[
            min(len(latencies) - 1, int(len(latencies) * 0.99))
        ]

    def worker(self) -> None:
        one, rss = self._worker_rate(processes=1, actions=int(300 * self.seconds))
        ceiling = 32 / 0.1
        self.report.add(
            "worker: actions/s, 1 process, 100 ms API latency",
            f"{one:.0f}",
            f"ceiling {ceiling:.0f}",
            f"{one / ceiling:.2f}",
            ">= 0.85",
        )
        prefork, _ = self._worker_rate(processes=1, actions=int(20 * self.seconds), pool="prefork")
        self.report.add(
            "worker: Celery default prefork pool (2 cores)",
            f"{prefork:.0f}",
            f"ours {one:.0f}",
            f"{one / prefork:.1f}x",
        )
        two, _ = self._worker_rate(processes=2, actions=int(600 * self.seconds))
        self.report.add(
            "worker: actions/s, 2 processes",
            f"{two:.0f}",
            f"1 process {one:.0f}",
            f"{two / one:.2f}x",
            ">= 1.7x",
        )
        self.report.add("memory: worker process peak RSS", f"{rss:.0f} MB", "", "", "<= 150 MB")

    def _worker_rate(
        self, processes: int, actions: int, pool: str = "threads"
    ) -> tuple[float, float]:
        with RedisServer() as redis_server, self.api(latency=0.1) as api:
            client = redis.Redis.from_url(redis_server.url)
            journal = Journal(client)
            for i in range(actions):
                target = f"conf-{i % 50}"
                context = {"event_id": f"bench-{i}"}
                params = {
                    "payload": "Hello",
                    "voice": "female",
                    "call_control_ids": "everyone",
                    "command_id": f"c{i}",
                }
                task_id = f"bench-{i}"
                argsrepr = followup_argsrepr("conference", target, context)
                journal.publish(
                    task_id,
                    celery_message(
                        conference_task("speak"), task_id, [target, params, context], argsrepr
                    ),
                )
            env = self.env(redis_server.url, api.base_url)
            if pool == "threads":
                workers = [
                    ManagedProcess("worker", procfile()["worker"], env) for _ in range(processes)
                ]
            else:
                workers = [
                    ManagedProcess(
                        "worker",
                        "celery -A workers.app worker --loglevel WARNING --queues telnyx",
                        env,
                    )
                ]
            try:
                if not wait(lambda: api.accepted() >= actions, 600):
                    raise RuntimeError(f"only {api.accepted()} of {actions} actions done")
                times = sorted(r["received_at"] for r in api.requests() if r["status"] == 200)
                # From the first command to the last: start-up time does not count.
                rate = (len(times) - 1) / (times[-1] - times[0])
                rss = max(peak_rss_mb(w.pid) for w in workers)
            finally:
                for w in workers:
                    w.stop()
                client.close()
        return rate, rss

    @contextmanager
    def api(self, latency: float = 0.0) -> Iterator[ApiProcess]:
        """The local Telnyx API in a process of its own, so it does not slow the one measuring."""
        port = free_port()
        command = (
            f"python -m sandbox.api --port {port} --api-key {API_KEY} --latency {latency} --quiet"
        )
        process = ManagedProcess("api", command, self.env("redis://unused"))
        api = ApiProcess(f"http://127.0.0.1:{port}")
        process.wait_until(api.up, 30)
        try:
            yield api
        finally:
            process.stop()


class ApiProcess:
    def __init__(self, root: str) -> None:
        self.root = root
        self.base_url = f"{root}/v2"
        self._http = httpx.Client(timeout=10)

    def up(self) -> bool:
        try:
            return self._http.get(f"{self.root}/_sandbox/stats").status_code == 200
        except httpx.HTTPError:
            return False

    def accepted(self) -> int:
        return int(self._http.get(f"{self.root}/_sandbox/stats").json()["accepted_commands"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self._http.get(f"{self.root}/_sandbox/requests").json()["data"])

    def reset(self) -> None:
        self._http.post(f"{self.root}/_sandbox/reset")


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()] or [pid]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each load run")
    parser.add_argument(
        "parts", nargs="*", default=["ingest", "e2e", "worker"], help="ingest, e2e, worker"
    )
    args = parser.parse_args()
    bench = Bench(args.seconds)
    capacity = 0.0
    if "ingest" in args.parts:
        print("ingest ...", file=sys.stderr, flush=True)
        capacity = bench.ingest()
        bench.ack_latency(capacity)
    if "e2e" in args.parts:
        print("end to end ...", file=sys.stderr, flush=True)
        bench.end_to_end()
    if "worker" in args.parts:
        print("worker ...", file=sys.stderr, flush=True)
        bench.worker()
    load = "wrk" if shutil.which("wrk") else "bench/loadgen.py"
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, load from {load}, {args.seconds:.0f} s runs\n"
    )
    print(bench.report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
