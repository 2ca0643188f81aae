"""Publishing events to the workers' queue, straight to Redis, in Celery's message format.

The web process does not need a Celery app: it writes the same message Celery's own producer
would (task protocol 2, as kombu's Redis transport stores it) on a long-lived connection pool.
That keeps the acknowledgement path short and makes its failure modes plain: when the call
returns, Redis has the event; when Redis cannot be reached within the socket timeouts, the
caller gets `QueueUnavailable` and answers 503.

Deduplication on the Telnyx event id happens in the same Lua script as the LPUSH, so it is
atomic: of several concurrent deliveries of one event exactly one is queued, and an event is
never marked seen without being queued. The same script journals the message
(`tasks.journal`), so it can be recovered if a worker loses it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.journal import JOURNAL, QUEUE_ONCE_SCRIPT, SINCE
from tasks.naming import HANDLE_EVENT, QUEUE, event_task_id, seen_key

_ORIGIN = f"ingest@{socket.gethostname()}:{os.getpid()}"


DEFAULT_DEDUPE_TTL_SECONDS = 48 * 3600


class QueueUnavailable(Exception):
    """Redis could not take the message; nothing was queued."""


def celery_message(
    task: str, task_id: str, args: list[Any], argsrepr: str, queue: str = QUEUE
) -> bytes:
    """One Celery protocol-2 task message, encoded as kombu's Redis transport stores it."""
    body = json.dumps(
        [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
        separators=(",", ":"),
    ).encode()
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        # Shown by Flower instead of the arguments: ids only, never caller data.
        "argsrepr": argsrepr,
        "kwargsrepr": "{}",
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            # The anonymous exchange routes on the queue name, which is also how kombu
            # restores an unacknowledged message to its queue.
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(message, separators=(",", ":")).encode()


def event_argsrepr(event_type: str, event_id: str, conference_id: str | None) -> str:
    conference = f" conference={conference_id}" if conference_id else ""
    return f"{event_type} id={event_id}{conference}"[:300]


class EventPublisher:
    """Queues verified webhook bodies for the `telnyx.handle_event` task."""

    def __init__(
        self,
        client: redis.Redis,
        queue: str = QUEUE,
        dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS,
    ) -> None:
        self._redis = client
        self._queue = queue
        self._dedupe_ttl = dedupe_ttl_seconds
        self._queue_once = client.register_script(QUEUE_ONCE_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        timeout_seconds: float = 1.0,
        dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS,
    ) -> EventPublisher:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            # One immediate retry covers a pooled connection that a Redis restart closed;
            # more would only make Telnyx wait longer for the 503 it needs to redeliver.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, dedupe_ttl_seconds=dedupe_ttl_seconds)

    def publish(self, body: str, event_id: str, event_type: str, conference_id: str | None) -> bool:
        """Queue one event body unless it was queued before; True when queued now.

        Raises QueueUnavailable when Redis did not take it.
        """
        task_id = event_task_id(event_id)
        message = celery_message(
            HANDLE_EVENT, task_id, [body], event_argsrepr(event_type, event_id, conference_id)
        )
        try:
            queued = self._queue_once(
                keys=[self._queue, JOURNAL, SINCE, seen_key(event_id)],
                args=[task_id, message, time.time(), self._dedupe_ttl],
            )
        except redis.RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc
        return bool(queued)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False
