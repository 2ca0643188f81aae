"""Celery task messages as kombu's Redis transport keeps them: written straight to Redis by the
web (the event task's) and by the lanes (drain messages), without a Celery app; and how long a
queued one has waited.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from core.naming import QUEUE
from records.journal import SINCE

_ORIGIN = f"ingest@{socket.gethostname()}:{os.getpid()}"


def celery_message(
    task: str,
    task_id: str,
    args: list[Any],
    argsrepr: str,
    queue: str = QUEUE,
    eta: datetime | None = None,
) -> bytes:
    """One Celery protocol-2 task message, encoded as kombu's Redis transport stores it;
    with `eta` (by Redis's clock: RedisClock.eta), the worker holds it until then.

    The JSON is written from parts made once, with only the values of this message encoded
    here: this runs on every webhook, and encoding the whole nested dict each time cost more
    than the rest of the queue call. (tests/records/test_publisher.py checks it against the
    same message built as a dict.)"""
    body = base64.b64encode(_dumps([args, {}, _EMBED]).encode()).decode("ascii")
    tid = _string(task_id)
    return (
        f'{{"body":"{body}",{_MESSAGE_STATIC},"headers":{{{_HEADERS_STATIC},'
        f'"eta":{"null" if eta is None else _eta(eta)},"task":{_string(task)},'
        f'"id":{tid},"root_id":{tid},"argsrepr":{_string(argsrepr)},'
        # When it was queued: /metrics' queue age (how long the oldest has waited).
        f'"sent_at":{round(time.time(), 3)!r}}},'
        f'"properties":{{{_PROPERTIES_STATIC},"correlation_id":{tid},'
        # The anonymous exchange routes on the queue name, which is also how kombu restores
        # an unacknowledged message to its queue.
        f'"delivery_info":{{"exchange":"","routing_key":{_string(queue)}}},'
        f'"delivery_tag":"{os.urandom(16).hex()}"}}}}'
    ).encode()


# The header that says a message's ETA is by Redis's clock (records/clock.py), and its value;
# a worker reads the ETA of a message without it by its own clock (tasks/base.py).
ETA_CLOCK = "eta_clock"
REDIS_CLOCK = "redis"


def _eta(eta: datetime) -> str:
    return f'{_string(eta.isoformat())},"{ETA_CLOCK}":"{REDIS_CLOCK}"'


# The parts of every message that never change.
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_HEADERS: dict[str, Any] = {
    "lang": "py",
    "shadow": None,
    "expires": None,
    "group": None,
    "group_index": None,
    "retries": 0,
    "timelimit": [None, None],
    "parent_id": None,
    "kwargsrepr": "{}",
    "origin": _ORIGIN,
    "ignore_result": True,
    "replaced_task_nesting": 0,
    "stamped_headers": None,
    "stamps": {},
}
_PROPERTIES: dict[str, Any] = {
    "reply_to": "",
    "delivery_mode": 2,
    "priority": 0,
    "body_encoding": "base64",
}
_MESSAGE_STATIC = '"content-encoding":"utf-8","content-type":"application/json"'
# A dict's members without its braces, to be written beside this message's own.
_HEADERS_STATIC = _dumps(_HEADERS)[1:-1]
_PROPERTIES_STATIC = _dumps(_PROPERTIES)[1:-1]


def queue_age(client: redis.Redis, message: bytes | str) -> float:
    """Seconds since `message` (a queued one) was queued: from its `sent_at` header, or for a
    message of Celery's own making, from the journal's record of it."""
    try:
        headers = json.loads(message)["headers"]
    except (ValueError, KeyError, TypeError):
        return 0.0
    sent_at = headers.get("sent_at")
    if not isinstance(sent_at, int | float):
        score = client.zscore(SINCE, str(headers.get("id")))
        sent_at = float(score) if score is not None else time.time()
    return max(time.time() - float(sent_at), 0.0)
