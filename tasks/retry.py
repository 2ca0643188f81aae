"""How long to wait before retrying a failed Telnyx command."""

from __future__ import annotations

import random


def backoff_seconds(
    retries: int,
    *,
    base: float,
    cap: float,
    hint: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Capped exponential backoff with jitter, never shorter than what Telnyx asked for.

    The jitter spreads retries of a burst that failed together (a 429 storm, an outage) so
    they do not return together. `hint` is Retry-After or x-ratelimit-reset.
    """
    ceiling = min(cap, base * (2 ** min(retries, 32)))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    if hint is not None:
        delay = max(delay, min(hint, cap))
    return delay
