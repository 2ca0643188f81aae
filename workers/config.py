"""The Celery configuration, one commented block."""

from __future__ import annotations

from typing import Any

from tasks.naming import QUEUE

# Longer than any retry countdown (tasks.settings caps it at 600 s) plus the longest API call,
# so kombu never hands a message still being waited on to a second worker.
VISIBILITY_TIMEOUT_SECONDS = 900


def celery_config(redis_url: str) -> dict[str, Any]:
    return {
        "broker_url": redis_url,
        # JSON only: a pickled message from anyone who can reach Redis would run code.
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Nothing reads task results; storing them would only fill Redis.
        "task_ignore_result": True,
        "task_default_queue": QUEUE,
        # Acknowledge after the task ran, not when it was received: a worker that dies
        # mid-task leaves the message to be delivered again.
        "task_acks_late": True,
        # ...and when a pool process is killed (prefork), requeue rather than drop.
        "task_reject_on_worker_lost": True,
        # One message per pool slot at a time: late acks with a deep prefetch would strand
        # messages on a busy worker.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        # Flower and `celery events` need these.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }
