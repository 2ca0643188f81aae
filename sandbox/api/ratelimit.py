"""The account's rate limit, as Telnyx's rate limiting page describes it:
https://developers.telnyx.com/development/api-fundamentals/reliability/rate-limiting

Every answer to a command carries `x-ratelimit-limit` (the limit), `x-ratelimit-remaining` (what
is left "within the current time window") and `x-ratelimit-reset`, which "shows the time in
seconds until the rate limit resets"; past the limit, a 429 with code 10011.

What the page leaves open is a setting here, so that tests can cover each reading:
- the windows: fixed (each second of the clock, the default) or sliding (the commands accepted in
  the last second; the reset is when the oldest of them leaves it);
- the reset in whole seconds, rounded up (the default: 0.3 s says "1") or down (says "0");
- `Retry-After` on a 429, in whole seconds and at least 1: sent (the default) or omitted. Whether
  Telnyx sends it is unconfirmed; a client must work either way.

Only accepted commands are counted: a refused one uses nothing up.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 1.0


class Window(enum.StrEnum):
    FIXED = "fixed"
    SLIDING = "sliding"


class Rounding(enum.StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Verdict:
    """One command counted: whether it is over the limit, what is left after it, and the exact
    seconds until the window renews (for a sliding one: until a command leaves it)."""

    over: bool
    remaining: int
    reset: float


class Counter:
    """The commands accepted in the current window. Not thread-safe: FakeTelnyx's lock holds."""

    def __init__(self) -> None:
        self._accepted: deque[float] = deque()

    def count(self, now: float, limit: int, window: Window) -> Verdict:
        """Count one command arriving at `now` (seconds of the clock)."""
        fixed = window is Window.FIXED
        second = math.floor(now)
        while self._accepted and self._gone(self._accepted[0], now, second, fixed):
            self._accepted.popleft()
        over = len(self._accepted) >= limit
        if not over:
            self._accepted.append(now)
        # It renews at the second's end, or, sliding, when its oldest command leaves it.
        renews = (second if fixed else self._accepted[0]) + WINDOW_SECONDS
        return Verdict(over, max(limit - len(self._accepted), 0), max(renews - now, 0.0))

    @staticmethod
    def _gone(accepted_at: float, now: float, second: int, fixed: bool) -> bool:
        # A fixed window is the clock's current second; a sliding one holds what arrived less
        # than a second ago.
        return accepted_at < second if fixed else accepted_at <= now - WINDOW_SECONDS


def whole_seconds(seconds: float, rounding: Rounding) -> int:
    # Rounded to the microsecond first, so that float noise (1.0000000002) is not a second more.
    exact = round(seconds, 6)
    return math.ceil(exact) if rounding is Rounding.UP else math.floor(exact)


def headers(limit: int, verdict: Verdict, rounding: Rounding, retry_after: bool) -> dict[str, str]:
    """The x-ratelimit-* headers of an answer, and Retry-After on a refusal if it is sent."""
    found = {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(verdict.remaining),
        "x-ratelimit-reset": str(whole_seconds(verdict.reset, rounding)),
    }
    if verdict.over and retry_after:
        # Whole seconds, never 0: "retry at once" would invite the burst it refuses.
        found["retry-after"] = str(max(1, whole_seconds(verdict.reset, Rounding.UP)))
    return found
