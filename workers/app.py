"""The worker process's composition root and the `celery -A workers.app` target."""

from __future__ import annotations

import logging

from celery import Celery

from tasks import handlers, runtime
from tasks.settings import WorkerSettings, load_settings
from workers.config import celery_config

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

settings = load_settings(WorkerSettings)
runtime.configure(runtime.Runtime(settings))

app = Celery("telnyx_conference_worker")
app.conf.update(celery_config(settings.redis_url))
# Importing the handlers registers every task with this app.
TASKS = handlers.ACTION_TASKS | {handlers.handle_event.name: handlers.handle_event}
