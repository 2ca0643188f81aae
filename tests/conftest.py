"""Shared fixtures: real Redis, the local Telnyx-compatible API, signing, a real worker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
import redis

from sandbox.api.http import FakeTelnyxServer
from sandbox.redis_server import RedisServer
from sandbox.signer import WebhookSigner
from testkit.processes import ManagedProcess, start_worker
from tests.scheduling import pytest_xdist_make_scheduler  # noqa: F401 (a hook: pytest finds it here)

API_KEY = "KEY-test-0123456789"
# A fixed seed so failures reproduce; generated for this project, not a key in use anywhere.
SIGNING_SEED = bytes(range(32))

_REDIS_URL_OVERRIDE = os.environ.get("REDIS_URL")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Telnyx or Redis settings."""
    for name in list(os.environ):
        if name.startswith(
            ("TELNYX_", "REDIS_", "WEBHOOK_", "ANNOUNCE_", "RECORDING_", "CONFERENCE_")
        ):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A private Redis on a free port; REDIS_URL in the environment points elsewhere instead."""
    if _REDIS_URL_OVERRIDE:
        yield _REDIS_URL_OVERRIDE
        return
    with RedisServer() as server:
        yield server.url


def _database(url: str, db: int) -> str:
    return url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture(scope="session")
def redis_url(redis_server_url: str) -> str:
    """Database 0: for tests that look at the queue themselves, with no worker consuming it."""
    return _database(redis_server_url, 0)


@pytest.fixture(scope="session")
def pipeline_redis_url(redis_server_url: str) -> str:
    """Database 1: the session's worker process consumes from it."""
    return _database(redis_server_url, 1)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def pipeline_redis(pipeline_redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pipeline_redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def api_server() -> Iterator[FakeTelnyxServer]:
    with FakeTelnyxServer(API_KEY) as server:
        yield server


@pytest.fixture
def api(api_server: FakeTelnyxServer) -> FakeTelnyxServer:
    api_server.state.clear()
    api_server.state.latency = 0.0
    return api_server


@pytest.fixture(scope="session")
def signer() -> WebhookSigner:
    return WebhookSigner(SIGNING_SEED)


@pytest.fixture
def sign(signer: WebhookSigner) -> Callable[..., dict[str, str]]:
    def _sign(body: bytes, ts: int | None = None) -> dict[str, str]:
        return signer.headers(body, ts)

    return _sign


def service_env(redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner) -> dict[str, str]:
    """The environment the Procfile's processes need, pointed at the local parts."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_API_BASE_URL": api.base_url,
        "TELNYX_PUBLIC_KEY": signer.public_key,
        "WORKER_CONCURRENCY": "8",
        "WEB_CONCURRENCY": "1",
        "RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "RETRY_BACKOFF_MAX_SECONDS": "0.5",
        "WORKER_SOFT_SHUTDOWN_SECONDS": "1",
        # Timelines are off by default; the timeline tests read them from the session's worker.
        "TIMELINE_RETENTION_HOURS": "24",
    }


@pytest.fixture(scope="session")
def worker(
    pipeline_redis_url: str, api_server: FakeTelnyxServer, signer: WebhookSigner
) -> Iterator[ManagedProcess]:
    """One real Celery worker process, started from the Procfile's command line."""
    process = start_worker(service_env(pipeline_redis_url, api_server, signer))
    yield process
    process.stop()
