"""The Celery app Flower connects to (`celery -A workers.monitor flower`).

It needs only REDIS_URL: the monitor never calls Telnyx, so it never sees the API key. It knows
the project's tasks by name (Flower lists them as registered) without running any.
"""

from __future__ import annotations

import logging

from celery import Celery

import tasks.actions
import tasks.drain
import tasks.events
from core.settings import CommonSettings, load_settings
from workers.config import celery_config


class _NoWorkerYet(logging.Filter):
    """Flower asks the workers about themselves as it starts. In a Procfile start they are
    still booting, none answers, and Flower logs each question as a failure; that is the
    normal order of things, so it is said as such, at INFO. (An inspection that raised keeps
    its error.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Inspect method %s failed" and isinstance(record.args, tuple):
            record.msg = "Inspect %s: no worker answered yet (workers show up as they start)"
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


logging.getLogger("flower.inspector").addFilter(_NoWorkerYet())

settings = load_settings(CommonSettings)
# (Imported for their task names: shared tasks register with this app too.)
TASK_MODULES = (tasks.actions, tasks.drain, tasks.events)
app = Celery("telnyx_conference_worker")
app.conf.update(
    celery_config(
        settings.broker_url,
        redis_tls=settings.redis_tls,
        sentinel_options=settings.broker_sentinel_options,
    )
)
