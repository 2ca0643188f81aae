"""Redis's clock as one process reads it: how far Redis's TIME is from this host's wall clock.

The fleet decides by Redis's clock (records/lua/lib/clock.lua). A message that is due later (a
drain handed on to wait for the fleet's pace, a call task's retry) is due by that clock too:
its sender writes the ETA by Redis's clock, and the worker that receives it turns it into its
own (tasks/base.py). Two workers whose clocks disagree then agree on when it is due; by their
own clocks, one would wake a hand-off early and the other late, by however far apart they are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

# How old a measurement may get. A drifting clock moves milliseconds an hour; a clock stepped by
# NTP is followed within this. One TIME a worker per REFRESH_SECONDS costs nothing.
REFRESH_SECONDS = 10.0
# After a failed measurement (Redis away): the last offset stands, and this soon it is tried
# again.
RETRY_SECONDS = 1.0


class RedisClock:
    """Redis's clock for this process: `offset` seconds ahead of time.time() (behind when
    negative), measured by a TIME whose round trip's middle stands for Redis's reading, so the
    error is at most half the round trip (a fraction of a millisecond near Redis)."""

    def __init__(
        self,
        client: redis.Redis,
        refresh_seconds: float = REFRESH_SECONDS,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._refresh = refresh_seconds
        self._wall = wall
        self._monotonic = monotonic
        self._offset = 0.0
        self._next = float("-inf")
        self._measuring = threading.Lock()

    def offset(self) -> float:
        """Seconds from this host's wall clock to Redis's, measured again once it is old."""
        if self._monotonic() >= self._next and self._measuring.acquire(blocking=False):
            # (One thread measures; the others go on with the last offset meanwhile.)
            try:
                self._measure()
            finally:
                self._measuring.release()
        return self._offset

    def now(self) -> float:
        """Redis's time now (epoch seconds), read off this host's clock."""
        return self._wall() + self.offset()

    def eta(self, delay: float) -> datetime:
        """The time `delay` s from now by Redis's clock, as a message's ETA."""
        return datetime.fromtimestamp(self.now() + delay, UTC)

    def local(self, redis_time: datetime) -> datetime:
        """A time by Redis's clock (an ETA written by eta()) as this host's clock reads it."""
        return datetime.fromtimestamp(redis_time.timestamp() - self.offset(), UTC)

    def _measure(self) -> None:
        before = self._wall()
        try:
            seconds, micros = self._redis.time()
        except redis.RedisError:
            self._next = self._monotonic() + RETRY_SECONDS
            return
        after = self._wall()
        self._offset = seconds + micros / 1e6 - (before + after) / 2
        self._next = self._monotonic() + self._refresh
