"""Redis Sentinel for every process that talks to Redis, against a real primary, replica and
three Sentinels: the release check, Flower and `conference-worker`. (The web and the worker
are covered under a failover in tests/faults/test_failover.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.redis_server import SentinelTopology, free_port
from sandbox.signer import WebhookSigner
from testkit.processes import ManagedProcess, procfile
from tests.conftest import service_env
from tests.integration.test_release_check import _release

FLOWER_AUTH = ("ops", "sentinel-secret")


@pytest.fixture(scope="module")
def topology() -> Iterator[SentinelTopology]:
    with SentinelTopology(replicas=1, sentinels=3) as running:
        yield running


@pytest.fixture
def env(topology: SentinelTopology, api: FakeTelnyxServer, signer: WebhookSigner) -> dict[str, str]:
    return {**service_env("redis://unused/0", api, signer), **topology.env}


def test_the_release_check_reports_what_sentinel_found(env: dict[str, str]) -> None:
    result = _release({**env, "REDIS_MIN_REPLICAS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 Sentinels reached" in result.stdout
    assert "role master, 1 replica(s)" in result.stdout


def test_too_few_replicas_fail_the_release(env: dict[str, str]) -> None:
    result = _release({**env, "REDIS_MIN_REPLICAS": "2"})
    assert result.returncode == 1
    assert "REDIS_MIN_REPLICAS is 2 but the primary has 1 connected replica(s)" in result.stdout


def test_unreachable_sentinels_fail_the_release(env: dict[str, str]) -> None:
    nobody = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    result = _release({**env, "REDIS_SENTINELS": nobody})
    assert result.returncode == 1
    assert "none of the 2 Sentinels answered" in result.stdout


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"REDIS_SENTINEL_MASTER": None}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"REDIS_SENTINELS": "localhost"}, "'localhost' is not host:port"),
    ],
)
def test_a_bad_sentinel_setting_is_named(
    env: dict[str, str], changes: dict[str, str | None], message: str
) -> None:
    changed = {**env, **changes}
    result = _release({name: value for name, value in changed.items() if value is not None})
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


def test_conference_worker_reaches_the_primary(env: dict[str, str]) -> None:
    venv_bin = str(Path(sys.executable).parent)
    result = subprocess.run(
        [f"{venv_bin}/conference-worker", "dead-letters", "list"],
        env={**env, "PATH": f"{venv_bin}{os.pathsep}{env['PATH']}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_flower_reads_the_queue_through_sentinel(
    env: dict[str, str], topology: SentinelTopology
) -> None:
    port = free_port()
    flower = ManagedProcess(
        "flower",
        procfile()["flower"],
        {**env, "PORT": str(port), "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)},
    )
    client = topology.client()
    try:
        client.lpush("telnyx", b"{}")  # a message waiting, as Flower's broker view shows it
        url = f"http://127.0.0.1:{port}/api/queues/length"

        def lengths() -> bool:
            try:
                response = httpx.get(url, auth=FLOWER_AUTH, timeout=2)
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and any(
                q["name"] == "telnyx" and q["messages"] == 1
                for q in response.json().get("active_queues", [])
            )

        flower.wait_until(lengths, timeout=60)
    finally:
        client.delete("telnyx")
        client.close()
        flower.stop()
