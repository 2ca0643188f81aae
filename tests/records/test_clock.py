"""Redis's clock as a process reads it, on a real Redis, from a host clock set off on purpose."""

from __future__ import annotations

import time
from datetime import UTC

import pytest
import redis

from records.clock import RETRY_SECONDS, RedisClock

SKEW = 3.0  # this "host" is 3 s ahead of Redis


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def test_a_host_clock_ahead_reads_redis_s_time(redis_client: redis.Redis) -> None:
    clock = RedisClock(redis_client, wall=lambda: time.time() + SKEW)
    assert clock.offset() == pytest.approx(-SKEW, abs=0.05)
    before = _redis_now(redis_client)
    now = clock.now()
    assert before - 0.05 <= now <= _redis_now(redis_client) + 0.05


def test_an_eta_by_redis_s_clock_is_read_back_by_another_host_s_clock(
    redis_client: redis.Redis,
) -> None:
    ahead = RedisClock(redis_client, wall=lambda: time.time() + SKEW)
    behind = RedisClock(redis_client, wall=lambda: time.time() - SKEW)
    eta = ahead.eta(2.0)
    # Written by Redis's clock: 2 s from Redis's now, whatever the writer's clock says.
    assert eta.timestamp() == pytest.approx(_redis_now(redis_client) + 2.0, abs=0.05)
    # Each host reads it as the same moment, by its own clock.
    assert behind.local(eta).timestamp() == pytest.approx(time.time() - SKEW + 2.0, abs=0.05)
    assert ahead.local(eta).timestamp() == pytest.approx(time.time() + SKEW + 2.0, abs=0.05)
    assert behind.local(eta).tzinfo is UTC


def test_the_offset_is_measured_again_once_it_is_old(redis_client: redis.Redis) -> None:
    skew = [SKEW]
    ticks = _Monotonic()
    clock = RedisClock(redis_client, refresh_seconds=10, wall=lambda: time.time() + skew[0],
                       monotonic=ticks)  # fmt: skip
    assert clock.offset() == pytest.approx(-SKEW, abs=0.05)
    skew[0] = -1.0  # the host's clock is stepped
    ticks.now += 9.9
    assert clock.offset() == pytest.approx(-SKEW, abs=0.05)
    ticks.now += 0.1
    assert clock.offset() == pytest.approx(1.0, abs=0.05)


class _Outage:
    """The real client, until Redis "goes away"."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.down = False

    def time(self) -> tuple[int, int]:
        if self.down:
            raise redis.ConnectionError("Connection refused")
        return self.client.time()


def test_with_redis_away_the_last_offset_stands_and_is_tried_again_soon(
    redis_client: redis.Redis,
) -> None:
    ticks = _Monotonic()
    outage = _Outage(redis_client)
    clock = RedisClock(outage, wall=lambda: time.time() + SKEW, monotonic=ticks)  # type: ignore[arg-type]
    assert clock.offset() == pytest.approx(-SKEW, abs=0.05)
    outage.down = True
    ticks.now += 60
    assert clock.offset() == pytest.approx(-SKEW, abs=0.05)  # no raise: the last one stands
    outage.down = False
    ticks.now += RETRY_SECONDS - 0.01
    calls = []
    outage.time = lambda: calls.append(1) or redis_client.time()  # type: ignore[method-assign]
    clock.offset()
    assert calls == []  # not before RETRY_SECONDS
    ticks.now += 0.01
    clock.offset()
    assert calls == [1]
