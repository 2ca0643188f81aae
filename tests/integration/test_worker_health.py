"""`conference-worker health`, the worker container's healthcheck: it asks its own worker only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit.processes import ManagedProcess
from workers.cli import own_node_name

pytestmark = pytest.mark.usefixtures("worker")
HEALTH = str(Path(sys.executable).parent / "conference-worker")


def _health(redis_url: str, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [HEALTH, "health", *args],
        env={**os.environ, "REDIS_URL": redis_url}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_the_worker_on_this_host_answers(pipeline_redis_url: str, worker: ManagedProcess) -> None:
    # (The session's worker runs the Procfile's line: its node name is this host's default.)
    code, output, _ = _health(pipeline_redis_url)
    assert code == 0, output
    assert f"{own_node_name()}: pong" in output


def test_another_worker_on_the_broker_does_not_make_it_healthy(pipeline_redis_url: str) -> None:
    # Given a container whose own worker is gone, while another worker serves the same broker
    code, output, _ = _health(pipeline_redis_url, "--name", "worker@a-container-whose-worker-died")
    # Then its healthcheck fails
    assert code == 1
    assert "no answer within 2s" in output


def test_a_missing_redis_url_is_a_configuration_error() -> None:
    result = subprocess.run(
        [HEALTH, "health"], env={**os.environ, "REDIS_URL": "http://x"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr
