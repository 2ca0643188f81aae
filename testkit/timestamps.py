"""Measures over moments (seconds of the clock) for the fleet scenarios: the busiest one-second
window, as a limit in fixed windows or in a sliding one would count it; a percentile; and how
many moments fall inside any of a set of intervals."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence

WINDOW_SECONDS = 1.0


def busiest_fixed(moments: Iterable[float], since: float | None = None) -> int:
    """The most moments in one second of the clock ([n, n + 1)); with `since`, among the
    seconds from the one it falls in."""
    first = math.floor(since) if since is not None else -math.inf
    seconds = Counter(math.floor(m) for m in moments if math.floor(m) >= first)
    return max(seconds.values(), default=0)


def busiest_sliding(moments: Iterable[float], since: float | None = None) -> int:
    """The most moments in any one-second interval (t - 1, t]; with `since`, among those that
    end at `since` or later."""
    ordered = sorted(moments)
    busiest = 0
    for end, moment in enumerate(ordered):
        if since is None or moment >= since:
            start = bisect.bisect_right(ordered, moment - WINDOW_SECONDS)
            busiest = max(busiest, end + 1 - start)
    return busiest


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0.99: the value 99 % of them are at or below)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def inside(moments: Iterable[float], intervals: Iterable[tuple[float, float]]) -> int:
    """How many moments fall inside at least one closed interval (empty ones count for none)."""
    spans = [(start, end) for start, end in intervals if start <= end]
    return sum(any(start <= m <= end for start, end in spans) for m in moments)
