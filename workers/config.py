"""The Celery configuration, one commented block."""

from __future__ import annotations

from typing import Any

from core.naming import QUEUE
from core.settings import WorkerSettings


def celery_config(
    redis_url: str,
    *,
    visibility_timeout: int = 50,
    restore_interval: int = 5,
    soft_shutdown_seconds: float = 20.0,
    prefetch_multiplier: int = 2,
    send_task_events: bool = False,
    redis_tls: dict[str, Any] | None = None,
    sentinel_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`redis_url`: REDIS_URL, or with Sentinel kombu's sentinel:// list
    (CommonSettings.broker_url), with `sentinel_options` naming the master."""
    return {
        "broker_url": redis_url,
        # For rediss://: the same verification for the broker (kombu) and Flower's broker view
        # as for our own clients (CommonSettings.redis_tls). None for plain redis://.
        "broker_use_ssl": redis_tls,
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
        # A task that raised (Redis unreachable mid-task) stays unacknowledged and comes back
        # after the visibility timeout; the tasks catch every error they can handle themselves.
        "task_acks_on_failure_or_timeout": False,
        # Hold one ready message per busy thread, so a thread that finishes starts the next
        # task at once instead of waiting for a round trip to Redis (with 1, a third of the
        # threads sat idle). Held messages stay unacknowledged: a dead worker's come back.
        "worker_prefetch_multiplier": prefetch_multiplier,
        "broker_transport_options": {
            # An unacknowledged message goes back to the queue this long after delivery: that
            # is how a killed worker's actions reach another worker. It must exceed the longest
            # retry countdown plus an API call (WorkerSettings checks it).
            "visibility_timeout": visibility_timeout,
            # Sweep for such messages every few seconds instead of kombu's default of about
            # 100 s, so recovery takes the visibility timeout plus a few seconds.
            "unacked_restore_interval": restore_interval,
            "unacked_restore_throttle": 1,
            # The sweep holds a lock in Redis; a worker killed mid-sweep would leave it for
            # kombu's default of 300 s, and nobody would restore anything until then.
            "unacked_mutex_expire": max(5, 2 * restore_interval),
            # A publish on a dead connection must fail, not hang.
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            # With Sentinel: the master's name and how to reach the Sentinels.
            **(sentinel_options or {}),
        },
        # With REMAP_SIGTERM=SIGQUIT (set in the Procfile), SIGTERM starts a cold shutdown that
        # first lets running actions finish for this long, then requeues what is left: the
        # platform's SIGKILL comes 30 s after its SIGTERM.
        "worker_soft_shutdown_timeout": soft_shutdown_seconds,
        # An idle worker (at most holding retries that wait for their countdown) stops at once:
        # closing its channel gives those messages back to the queue, and the journal covers
        # them if it cannot.
        "worker_enable_soft_shutdown_on_idle": False,
        # Keep reconnecting to Redis for ever: a restart of Redis must not stop the workers.
        "broker_connection_max_retries": None,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        # Task events cost the consumer a Redis round trip each (three a task). Off until a
        # monitor asks: Flower switches them on in every worker when it connects (its
        # enable_events), as does `celery control enable_events`; WORKER_SEND_TASK_EVENTS=true
        # keeps them on from the start.
        "worker_send_task_events": send_task_events,
    }


def worker_celery_config(settings: WorkerSettings) -> dict[str, Any]:
    return celery_config(
        settings.broker_url,
        visibility_timeout=settings.broker_visibility_timeout_seconds,
        restore_interval=settings.broker_restore_interval_seconds,
        soft_shutdown_seconds=settings.worker_soft_shutdown_seconds,
        prefetch_multiplier=settings.worker_prefetch_multiplier,
        send_task_events=settings.worker_send_task_events,
        redis_tls=settings.redis_tls,
        sentinel_options=settings.broker_sentinel_options,
    )
