"""The lane tests' fixture: the worker's runtime with its lane store behind a Gate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from core.settings import WorkerSettings
from sandbox.api.http import FakeTelnyxServer
from tasks import runtime
from tests.conftest import API_KEY
from tests.tasks.lane_gate import Gate


@pytest.fixture
def gate(redis_url: str, redis_client: redis.Redis, api: FakeTelnyxServer) -> Iterator[Gate]:
    settings = WorkerSettings(
        redis_url=redis_url,
        telnyx_api_key=API_KEY,  # type: ignore[arg-type]
        telnyx_api_base_url=api.base_url,
        retry_backoff_base_seconds=0.05,
        retry_backoff_max_seconds=0.5,
        announce_interval_seconds=0,
        conference_settle_seconds=0,
        announce_merged_names=20,
    )
    rt = runtime.Runtime(settings)
    gate = Gate(rt.lanes)
    rt._lanes = gate  # type: ignore[assignment]
    previous = runtime._current
    runtime.configure(rt)
    yield gate
    runtime._current = previous
    rt.close()
