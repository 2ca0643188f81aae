"""How a task meets failure: a Telnyx refusal judged (retry, moot, dead letter), and Redis
outages waited out without ever acknowledging a message whose work is unfinished."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from celery.exceptions import Reject
from kombu.exceptions import OperationalError

from tasks import runtime
from tasks.retry import backoff_seconds
from telnyx_api.errors import APIError, TelnyxError

log = logging.getLogger(__name__)
T = TypeVar("T")

# 422 codes that say the moment has passed: nothing to fix, nothing to replay.
MOOT_CODES = frozenset({"90018", "90019", "90033", "90038"})
# Infrastructure failures that must leave the message unacknowledged for redelivery.
BROKER_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError)


def through_redis_outage(step: Callable[[], T], where: str) -> T:
    """Run `step`, waiting out a Redis outage of up to half the visibility timeout and then
    running it again; past that, reject the message back to the queue (Redis keeps it
    unacknowledged if even that fails, and hands it out again once it is back)."""
    grace = runtime.current().settings.redis_outage_grace_seconds
    deadline = time.monotonic() + grace
    delay = 0.1
    while True:
        try:
            return step()
        except BROKER_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                log.error("%s: Redis unavailable for %.0fs; requeueing", where, grace)
                raise Reject(str(exc), requeue=True) from exc
            log.warning("%s: Redis unavailable (%s); waiting %.1fs", where, exc, delay)
            time.sleep(delay)  # backing off a reconnect, not synchronising
            delay = min(delay * 2, 2.0)


@dataclass(frozen=True)
class Verdict:
    """What to do about a refused or failed command."""

    outcome: str  # retry, moot or dead_lettered
    delay: float = 0.0  # before the retry
    reason: str = ""  # of a dead letter: retries_exhausted or rejected
    codes: tuple[str, ...] = ()


def judge(exc: TelnyxError, retries: int) -> Verdict:
    """Retry what may pass (with backoff, honouring Telnyx's hint) while retries last; drop
    what Telnyx says is moot; dead-letter the rest for an operator."""
    settings = runtime.current().settings
    codes = tuple(exc.codes) if isinstance(exc, APIError) else ()
    if exc.retryable and retries < settings.task_max_retries:
        delay = backoff_seconds(
            retries,
            base=settings.retry_backoff_base_seconds,
            cap=settings.retry_backoff_max_seconds,
            hint=exc.retry_delay if isinstance(exc, APIError) else None,
        )
        return Verdict("retry", delay=delay, codes=codes)
    if exc.retryable:
        return Verdict("dead_lettered", reason="retries_exhausted", codes=codes)
    if MOOT_CODES.intersection(codes):
        return Verdict("moot", codes=codes)
    return Verdict("dead_lettered", reason="rejected", codes=codes)
