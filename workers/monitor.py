"""The Celery app Flower connects to (`celery -A workers.monitor flower`).

It needs only REDIS_URL: the monitor never calls Telnyx, so it never sees the API key.
"""

from __future__ import annotations

from celery import Celery

from core.settings import CommonSettings, load_settings
from workers.config import celery_config

settings = load_settings(CommonSettings)
app = Celery("telnyx_conference_worker")
app.conf.update(
    celery_config(
        settings.broker_url,
        redis_tls=settings.redis_tls,
        sentinel_options=settings.broker_sentinel_options,
    )
)
