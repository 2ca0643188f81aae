"""How many Redis connections each process opens: hosted Redis plans cap them, and the README
states the numbers an operator adds up. Measured on the Procfile's processes under load, from
the sockets each process holds to the Redis port (Linux's /proc)."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.api.faults import FaultRates
from sandbox.events import client_state, encode, make_event
from testkit.harness import Cluster
from testkit.processes import ManagedProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

WEB_CONCURRENCY = 2
WEB_REDIS_CONNECTIONS = 3
WORKER_CONCURRENCY = 32
WORKER_REDIS_CONNECTIONS = 4
# The README's figure for the Celery broker's own connections in one worker process: six for
# consuming, acknowledging and restoring, and up to two for each of Celery's ten pooled
# publishers (retries, follow-up tasks; broker_pool_limit); not one per thread.
BROKER_CONNECTIONS = 26
# The worker's reading of Redis's clock (records/clock.py) has a connection of its own.
CLOCK_CONNECTIONS = 1


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        pids += _tree(int(child))
    return pids


def redis_sockets(process: ManagedProcess, redis_port: int) -> int:
    """Established TCP connections to `redis_port` held by the process and its children."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == redis_port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    held = 0
    for pid in _tree(process.pid):
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
    return held


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    env = {
        "WEB_CONCURRENCY": str(WEB_CONCURRENCY),
        "WEB_REDIS_CONNECTIONS": str(WEB_REDIS_CONNECTIONS),
        "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "WORKER_REDIS_CONNECTIONS": str(WORKER_REDIS_CONNECTIONS),
    }
    with Cluster(env=env) as running:
        running.add_worker()
        yield running


def test_connections_per_process_stay_within_the_documented_bounds(cluster: Cluster) -> None:
    # Given both processes busy: many webhooks at once, and an API that takes its time and
    # fails a third of the commands (so retries are published too)
    cluster.api.state.latency = 0.05
    cluster.api.state.set_rates(FaultRates(server_error=0.3, seed=7))
    conferences = [str(uuid.uuid4()) for _ in range(40)]
    bodies = [
        encode(make_event(kind, conference_id=c, client_state=client_state("Ada")))
        for c in conferences
        for kind in ("conference.created", "conference.participant.joined")
    ]
    web, worker = cluster.web, cluster.workers[0]
    assert web is not None
    peak = {"web": 0, "worker": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["web"] = max(peak["web"], redis_sockets(web, cluster.redis_server.port))
            peak["worker"] = max(peak["worker"], redis_sockets(worker, cluster.redis_server.port))
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # When they are delivered 32 at a time and the worker performs them
        assert all(cluster.deliver(bodies, concurrency=32))
        assert cluster.wait_for_commands(len(bodies), timeout=60)
    finally:
        done.set()
        sampler.join()
    # Then the web held at most its pool per gunicorn worker, and the worker its pool and the
    # broker's few, however many threads it runs
    assert 0 < peak["web"] <= WEB_CONCURRENCY * WEB_REDIS_CONNECTIONS, peak
    assert (
        0 < peak["worker"] <= WORKER_REDIS_CONNECTIONS + CLOCK_CONNECTIONS + BROKER_CONNECTIONS
    ), peak
    print(f"peak Redis connections: {peak}")
