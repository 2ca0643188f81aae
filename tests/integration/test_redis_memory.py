"""Redis's memory on /metrics, read from the real server: what it uses, and the most it may
(the alert TelnyxRedisMemoryHigh watches the two; monitoring/alerts.yml)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask.testing import FlaskClient


@pytest.fixture
def limited(pipeline_redis: redis.Redis) -> Iterator[int]:
    before = pipeline_redis.config_get("maxmemory")["maxmemory"]
    pipeline_redis.config_set("maxmemory", 512 * 1024 * 1024)
    yield 512 * 1024 * 1024
    pipeline_redis.config_set("maxmemory", before)


def _gauge(client: FlaskClient, name: str) -> float:
    page = client.get("/metrics").get_data(as_text=True)
    [value] = [line.split()[1] for line in page.splitlines() if line.startswith(name + " ")]
    return float(value)


def test_metrics_show_redis_memory_used_and_its_limit(
    client: FlaskClient, pipeline_redis: redis.Redis, limited: int
) -> None:
    used = int(pipeline_redis.info("memory")["used_memory"])
    shown = _gauge(client, "telnyx_redis_used_memory_bytes")
    assert 0.5 * used < shown < 2 * used
    assert _gauge(client, "telnyx_redis_maxmemory_bytes") == limited


def test_no_limit_shows_as_0(client: FlaskClient, pipeline_redis: redis.Redis) -> None:
    if int(pipeline_redis.config_get("maxmemory")["maxmemory"]):
        pytest.skip("this Redis runs with a maxmemory of its own (REDIS_URL)")
    assert _gauge(client, "telnyx_redis_maxmemory_bytes") == 0
