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


def _send(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def closed_loop(url: str, shared: Shared, seconds: float, connections: int) -> None:
    parts = urlsplit(url)
    stop_at = time.monotonic() + seconds

    def run() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        while time.monotonic() < stop_at:
            body, headers = shared.take()
            started = time.perf_counter()
            try:
                status = _send(conn, parts.path, body, headers)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=10
                )
                status = 0
            shared.record(status, time.perf_counter() - started)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def open_loop(url: str, shared: Shared, seconds: float, rate: float, connections: int) -> None:
    """Send at a fixed rate whatever the answers take: latency as a client at that rate sees it."""
    parts = urlsplit(url)
    started = time.monotonic()
    interval = connections / rate

    def run(offset: float) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        due = started + offset
        while due < started + seconds:
            time.sleep(max(0.0, due - time.monotonic()))  # pacing to the rate, not synchronising
            body, headers = shared.take()
            t0 = time.perf_counter()
            try:
                status = _send(conn, parts.path, body, headers)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=10
                )
                status = 0
            shared.record(status, time.perf_counter() - t0)
            due += interval

    threads = [threading.Thread(target=run, args=(i / rate,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


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
