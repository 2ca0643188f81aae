"""Redis's clock as one process reads it: how far Redis's TIME is from this host's wall clock.

The fleet decides by Redis's clock (records/lua/lib/clock.lua). A message that is due later (a
drain handed on to wait for the fleet's pace, a call task's retry) is due by that clock too:
its sender writes the ETA by Redis's clock, and the worker that receives it turns it into its
own (tasks/base.py). Two workers whose clocks disagree then agree on when it is due; by their
own clocks, one would wake a hand-off early and the other late, by however far apart they are.
A lane's times and the age rules are read by it too (records/lane_scripts.py, tasks/drain.py).

Reading the offset never waits on Redis: Celery reads a message's ETA on the thread that takes
every message in, which must not stall on a slow Redis. A thread of the clock's own measures it
again every REFRESH_SECONDS (`start`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

# How old a measurement may get. A drifting clock moves milliseconds an hour; a clock stepped by
# NTP is followed within this. A few TIMEs a worker per REFRESH_SECONDS cost nothing.
REFRESH_SECONDS = 10.0
# After a failed measurement (Redis away): the last offset stands, and this soon it is tried
# again.
RETRY_SECONDS = 1.0
# Each measurement takes the best (shortest round trip) of this many TIMEs...
SAMPLES = 5
# ...and is kept only if that round trip is at most this long: the error is at most half of it.
# (A round trip near Redis is a fraction of a millisecond; one that waited for a busy process's
# GIL is not, and would put the wait into the offset.)
MAX_ROUND_TRIP_SECONDS = 0.02


class RedisClock:
    """Redis's clock for this process: `offset()` seconds ahead of time.time() (behind when
    negative), measured by the TIME with the shortest round trip of a few, whose middle stands
    for Redis's reading. `client` should be a connection of the clock's own: a TIME that waits
    for one of a busy pool's connections would put the wait into the offset."""

    def __init__(
        self,
        client: redis.Redis,
        refresh_seconds: float = REFRESH_SECONDS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._refresh = refresh_seconds
        self._wall = wall
        self._offset = 0.0
        self._measured = False
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def offset(self) -> float:
        """Seconds from this host's wall clock to Redis's, as last measured (0 before the
        first measurement: this host's clock). Never waits on Redis."""
        return self._offset

    def now(self) -> float:
        """Redis's time now (epoch seconds), read off this host's clock."""
        offset = self._offset
        return self._wall() + offset

    def eta(self, delay: float) -> datetime:
        """The time `delay` s from now by Redis's clock, as a message's ETA."""
        return datetime.fromtimestamp(self.now() + delay, UTC)

    def local(self, redis_time: datetime) -> datetime:
        """A time by Redis's clock (an ETA written by eta()) as this host's clock reads it."""
        return datetime.fromtimestamp(redis_time.timestamp() - self._offset, UTC)

    def measure(self) -> bool:
        """Measure the offset now; False (the last offset standing) when Redis did not answer,
        or answered too slowly to tell its time to within MAX_ROUND_TRIP_SECONDS / 2 (the first
        measurement keeps its best even so: better than none)."""
        best: tuple[float, float] | None = None  # (round trip, offset)
        for _ in range(SAMPLES):
            before = self._wall()
            try:
                seconds, micros = self._redis.time()
            except redis.RedisError:
                return False
            after = self._wall()
            sample = (after - before, seconds + micros / 1e6 - (before + after) / 2)
            best = sample if best is None else min(best, sample)
        assert best is not None
        if best[0] > MAX_ROUND_TRIP_SECONDS and self._measured:
            return False
        self._offset, self._measured = best[1], True
        return True

    def start(self) -> None:
        """Measure now, then again every REFRESH_SECONDS (RETRY_SECONDS after a failure) on a
        thread of the clock's own, until `stop`."""
        if self._thread is not None:
            return
        with self._starting:
            if self._thread is not None:
                return  # (started by another thread while this one waited)
            measured = self.measure()
            thread = threading.Thread(
                target=self._run, args=(measured,), name="redis-clock", daemon=True
            )
            thread.start()
            self._thread = thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self, measured: bool) -> None:
        while not self._stop.wait(self._refresh if measured else RETRY_SECONDS):
            measured = self.measure()
