"""The worker process's composition root and the `celery -A workers.app` target."""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

from core import logs
from core.settings import WorkerSettings, load_settings
from tasks import handlers, lanes, runtime
from workers import kombu_compat
from workers.config import worker_celery_config
from workers.sweeper import Sweeper

settings = load_settings(WorkerSettings)
logs.configure(settings.log_format)
# Every action logs its own outcome line; httpx's line per request would only repeat it.
logging.getLogger("httpx").setLevel(logging.WARNING)

kombu_compat.install()
# The work is waiting on the network in many threads at once. A thread whose answer has
# arrived waits for the GIL for up to the switch interval (5 ms by default) each time, several
# times a task; a shorter interval hands it over sooner.
sys.setswitchinterval(0.0005)
RUNTIME = runtime.Runtime(settings)
runtime.configure(RUNTIME)

app = Celery("telnyx_conference_worker")
app.conf.update(worker_celery_config(settings))
# Importing the handlers registers every task with this app.
TASKS = handlers.ACTION_TASKS | {
    handlers.handle_event.name: handlers.handle_event,
    lanes.drain.name: lanes.drain,
}

_sweeper = Sweeper(
    RUNTIME.journal,
    # Presumed lost once pending longer than a redelivery by kombu would take.
    grace=settings.broker_visibility_timeout_seconds + 2 * settings.broker_restore_interval_seconds,
    interval=settings.broker_restore_interval_seconds,
    dead_letters=RUNTIME.dead_letters,
)


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    _sweeper.start()


@worker_shutting_down.connect
def _stop_sweeper(**_: Any) -> None:
    _sweeper.stop()
