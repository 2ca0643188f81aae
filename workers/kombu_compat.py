"""A guard around one kombu failure that otherwise stops a worker after a Redis restart.

When the connection to Redis drops, Celery closes the consumer's connection and opens a new
one. Work still in flight on the old channel then touches it: closing it gives its messages
back, and a task finishing in a pool thread acknowledges its message on it. In kombu's Redis
transport both reach `Channel._connparams`, which reads the connection details of a channel
whose connection is already gone and raises AttributeError (`'NoneType' object has no
attribute 'hostname'` / `'client'`). That is not one of the errors Celery expects there: the
consumer stops, and the worker hangs or exits with "Unrecoverable error".

The guard makes it the connection error it is. Celery and kombu already handle that: the
acknowledgement is logged as failed and the close carries on. Nothing is lost or doubled by
it: the message stays in Redis's unacknowledged set and is handed out again after the
visibility timeout, where the ledger sees its action is done.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

# (kombu's type hints do not list this private method.)
_original_connparams = kombu_redis.Channel._connparams  # type: ignore[attr-defined]


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    connection = self.connection
    if connection is None or connection.client is None:
        raise redis.ConnectionError("the channel's connection to Redis is closed")
    return _original_connparams(self, asynchronous)


def install() -> None:
    """Idempotent: patch kombu's Redis channel once per process."""
    if kombu_redis.Channel._connparams is not _connparams:  # type: ignore[attr-defined]
        kombu_redis.Channel._connparams = _connparams  # type: ignore[attr-defined]
