"""The floor the worker's cost is measured against: Celery and httpx alone.

    celery -A bench.floor worker --pool threads --concurrency 32 --queues floor \
        --without-gossip --without-mingle --without-heartbeat --loglevel WARNING

One task that makes the same Telnyx call as the worker makes for `conference.created`
(record_start, with a command_id) and nothing else: no dedupe, journal, ledger, lanes,
metrics or log lines. Same Redis broker, same threads pool, acks late, no task events.
"""

from __future__ import annotations

import os

import httpx
from celery import Celery

QUEUE = "floor"
TASK = "floor.record_start"

if os.environ.get("FLOOR_SHARED_KOMBU_CLIENT") == "1":
    # The second floor: the same change to kombu's Redis transport as the worker makes
    # (workers/kombu_compat.py), so that the worker's own cost is measured apart from it.
    from workers import kombu_compat

    kombu_compat.install()

app = Celery("floor", broker=os.environ.get("REDIS_URL"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=2,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
)
_http = httpx.Client(
    base_url=os.environ.get("TELNYX_API_BASE_URL", ""),
    headers={"Authorization": f"Bearer {os.environ.get('TELNYX_API_KEY', '')}"},
    timeout=10,
)


@app.task(name=TASK)
def record_start(conference_id: str, command_id: str) -> None:
    _http.post(
        f"conferences/{conference_id}/actions/record_start",
        json={"format": "mp3", "channels": "single", "command_id": command_id},
    ).raise_for_status()
