"""A load generator run as its own process, so it does not share the server's interpreter.

    python -m bench.loadgen closed URL REQUESTS_FILE --seconds 10 --connections 16
    python -m bench.loadgen open URL REQUESTS_FILE --seconds 10 --rate 500

REQUESTS_FILE holds one JSON object a line: {"body": str, "headers": {...}}. Prints one JSON
line: requests, seconds, per-second rate, status counts, latency percentiles in ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from itertools import count
from typing import Any
from urllib.parse import urlsplit


def load_requests(path: str) -> list[tuple[bytes, dict[str, str]]]:
    with open(path) as f:
        return [(r["body"].encode(), r["headers"]) for r in map(json.loads, f)]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Shared:
    def __init__(self, requests: list[tuple[bytes, dict[str, str]]]) -> None:
        self.requests = requests
        self.next = count()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()

    def take(self) -> tuple[bytes, dict[str, str]]:
        return self.requests[next(self.next) % len(self.requests)]

    def record(self, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds * 1000)


class Client:
    """One keep-alive connection that reconnects after an error and records every request."""

    def __init__(self, url: str, shared: Shared) -> None:
        parts = urlsplit(url)
        self._host, self._port, self._path = parts.hostname or "127.0.0.1", parts.port, parts.path
        self._shared = shared
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=10)

    def send_next(self) -> None:
        body, headers = self._shared.take()
        started = time.perf_counter()
        try:
            self._conn.request("POST", self._path, body=body, headers=headers)
            response = self._conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = self._connect()
            status = 0
        self._shared.record(status, time.perf_counter() - started)


def _run_threads(targets: list[threading.Thread]) -> None:
    for t in targets:
        t.start()
    for t in targets:
        t.join()


def closed_loop(url: str, shared: Shared, seconds: float, connections: int) -> None:
    stop_at = time.monotonic() + seconds

    def run() -> None:
        client = Client(url, shared)
        while time.monotonic() < stop_at:
            client.send_next()

    _run_threads([threading.Thread(target=run) for _ in range(connections)])


def open_loop(url: str, shared: Shared, seconds: float, rate: float, connections: int) -> None:
    """Send at a fixed rate whatever the answers take: latency as a client at that rate sees it."""
    started = time.monotonic()
    interval = connections / rate

    def run(offset: float) -> None:
        client = Client(url, shared)
        due = started + offset
        while due < started + seconds:
            time.sleep(max(0.0, due - time.monotonic()))  # pacing to the rate, not synchronising
            client.send_next()
            due += interval

    _run_threads([threading.Thread(target=run, args=(i / rate,)) for i in range(connections)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("url")
    parser.add_argument("requests_file")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100)
    args = parser.parse_args()
    shared = Shared(load_requests(args.requests_file))
    started = time.monotonic()
    if args.mode == "closed":
        closed_loop(args.url, shared, args.seconds, args.connections)
    else:
        open_loop(args.url, shared, args.seconds, args.rate, args.connections)
    elapsed = time.monotonic() - started
    result: dict[str, Any] = {
        "requests": len(shared.latencies),
        "seconds": elapsed,
        "rate": len(shared.latencies) / elapsed,
        "statuses": dict(shared.statuses),
        "p50_ms": percentile(shared.latencies, 50),
        "p99_ms": percentile(shared.latencies, 99),
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
