"""Redis's clock as a process reads it, on a real Redis, from a host clock set off on purpose."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from records.clock import MAX_ROUND_TRIP_SECONDS, RedisClock
from testkit.harness import wait

SKEW = 3.0  # this "host" is 3 s ahead of Redis


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


class _Host:
    """A wall clock `skew` seconds off, which a test can step."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def __call__(self) -> float:
        return time.time() + self.skew


class _Faulty:
    """The real client, until Redis "goes away" or answers slowly."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.down = False
        self.slow = 0.0

    def time(self) -> tuple[int, int]:
        if self.down:
            raise redis.ConnectionError("Connection refused")
        time.sleep(self.slow)  # a round trip that waited (for a busy process's GIL, say)
        return self.client.time()


@pytest.fixture
def faulty(redis_client: redis.Redis) -> _Faulty:
    return _Faulty(redis_client)


def _clock(client: object, host: _Host, refresh: float = 10.0) -> RedisClock:
    return RedisClock(client, refresh_seconds=refresh, wall=host)  # type: ignore[arg-type]


def test_a_host_clock_ahead_reads_redis_s_time(redis_client: redis.Redis) -> None:
    clock = _clock(redis_client, _Host(SKEW))
    assert clock.offset() == 0.0  # (nothing measured yet: the host's own clock)
    assert clock.measure()
    assert clock.offset() == pytest.approx(-SKEW, abs=0.01)
    before = _redis_now(redis_client)
    now = clock.now()
    assert before - 0.01 <= now <= _redis_now(redis_client) + 0.01


def test_an_eta_by_redis_s_clock_is_read_back_by_another_host_s_clock(
    redis_client: redis.Redis,
) -> None:
    ahead, behind = _clock(redis_client, _Host(SKEW)), _clock(redis_client, _Host(-SKEW))
    assert ahead.measure()
    assert behind.measure()
    eta = ahead.eta(2.0)
    # Written by Redis's clock: 2 s from Redis's now, whatever the writer's clock says.
    assert eta.timestamp() == pytest.approx(_redis_now(redis_client) + 2.0, abs=0.02)
    # Each host reads it as the same moment, by its own clock.
    assert behind.local(eta).timestamp() == pytest.approx(time.time() - SKEW + 2.0, abs=0.02)
    assert ahead.local(eta).timestamp() == pytest.approx(time.time() + SKEW + 2.0, abs=0.02)


@pytest.fixture
def started(redis_client: redis.Redis) -> Iterator[tuple[RedisClock, _Host]]:
    host = _Host(SKEW)
    clock = _clock(redis_client, host, refresh=0.05)
    clock.start()
    yield clock, host
    clock.stop()


def test_a_started_clock_is_measured_at_once_and_follows_a_stepped_host_clock(
    started: tuple[RedisClock, _Host],
) -> None:
    clock, host = started
    assert clock.offset() == pytest.approx(-SKEW, abs=0.01)
    host.skew = -1.0  # NTP steps the host's clock
    assert wait(lambda: abs(clock.offset() - 1.0) < 0.01, timeout=5)


def test_with_redis_away_the_last_offset_stands(faulty: _Faulty) -> None:
    clock = _clock(faulty, _Host(SKEW))
    assert clock.measure()
    faulty.down = True
    assert not clock.measure()  # no raise
    assert clock.offset() == pytest.approx(-SKEW, abs=0.01)


def test_a_slow_round_trip_does_not_move_a_measured_offset(faulty: _Faulty) -> None:
    host = _Host(SKEW)
    clock = _clock(faulty, host)
    faulty.slow = 2 * MAX_ROUND_TRIP_SECONDS
    # The first measurement keeps its best, slow or not: better than the host's own clock
    assert clock.measure()
    assert clock.offset() == pytest.approx(-SKEW, abs=MAX_ROUND_TRIP_SECONDS * 2)
    host.skew = 0.0
    # Later, a slow one is not kept; a quick one is
    assert not clock.measure()
    assert clock.offset() == pytest.approx(-SKEW, abs=MAX_ROUND_TRIP_SECONDS * 2)
    faulty.slow = 0.0
    assert clock.measure()
    assert clock.offset() == pytest.approx(0.0, abs=0.01)


def test_a_clock_started_while_redis_is_away_measures_once_it_is_back(faulty: _Faulty) -> None:
    faulty.down = True
    clock = _clock(faulty, _Host(SKEW))
    clock.start()  # (no raise: it tries again every second)
    try:
        assert clock.offset() == 0.0
        faulty.down = False
        assert wait(lambda: abs(clock.offset() + SKEW) < 0.01, timeout=5)
    finally:
        clock.stop()


def test_a_clock_started_by_many_threads_at_once_measures_on_one_thread(
    redis_client: redis.Redis,
) -> None:
    clock = _clock(redis_client, _Host(SKEW))
    before = _clock_threads()
    threads = [threading.Thread(target=clock.start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        # Every caller returned with the clock measured, and one thread measures it again
        assert clock.offset() == pytest.approx(-SKEW, abs=0.01)
        assert len(_clock_threads() - before) == 1
    finally:
        clock.stop()


def _clock_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "redis-clock"}
