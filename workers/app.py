"""The worker process's composition root and the `celery -A workers.app` target."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_ready, worker_shutting_down

from core import logs
from core.settings import WorkerSettings, load_settings
from tasks import actions, drain, events, report, runtime
from workers import kombu_compat
from workers.config import worker_celery_config
from workers.sweeper import Sweeper

settings = load_settings(WorkerSettings)
logs.configure(settings.log_format)
# Every action logs its own outcome line, with the ids of its work; httpx's line per request
# and Celery's "received" and "succeeded" lines per task would only repeat it, at a cost
# measured in CPU per event (docs/benchmarks.md). Celery's failures are still logged, at ERROR.
for name in ("httpx", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(name).setLevel(logging.WARNING)

kombu_compat.install()
# The work is waiting on the network in many threads at once. A thread whose answer has
# arrived waits for the GIL for up to the switch interval (5 ms by default) each time, several
# times a task; a shorter interval hands it over sooner.
sys.setswitchinterval(0.0005)
RUNTIME = runtime.Runtime(settings)
runtime.configure(RUNTIME)

app = Celery("telnyx_conference_worker", task_cls="tasks.base:BaseTask")
app.conf.update(worker_celery_config(settings))


class _ReportCommands(bootsteps.StartStopStep):
    """Hands the consumer's event dispatcher to tasks/report.py (again after a reconnection,
    which makes a new one), so each command a lane sends is a Flower entry of its own."""

    requires = ("celery.worker.consumer.events:Events",)

    def start(self, c: Any) -> None:
        report.use_dispatcher(c.event_dispatcher)

    def stop(self, c: Any) -> None:
        report.use_dispatcher(None)


app.steps["consumer"].add(_ReportCommands)
# Importing the task modules registers every task with this app.
TASKS = actions.ACTION_TASKS | {
    events.handle_event.name: events.handle_event,
    drain.lane_drain.name: drain.lane_drain,
}

_sweeper = Sweeper(
    RUNTIME.journal,
    # Presumed lost once pending longer than a redelivery by kombu would take.
    grace=settings.broker_visibility_timeout_seconds + 2 * settings.broker_restore_interval_seconds,
    interval=settings.broker_restore_interval_seconds,
    dead_letters=RUNTIME.dead_letters,
    metrics=RUNTIME.metrics,
)


@worker_init.connect
def _start_clock(**_: Any) -> None:
    # Measured before the first message comes in: the thread that takes messages in reads each
    # one's ETA by it (tasks/base.py), and must not be the one to wait for the first reading.
    RUNTIME.clock.start()  # (started as it is made; this makes it now)


@worker_ready.connect
def _start_sweeper(sender: Any = None, **_: Any) -> None:
    _sweeper.start()
    _start_pool_threads(getattr(sender, "pool", None))


def _start_pool_threads(pool: Any) -> None:
    """Start every thread of the threads pool now. Python's executor starts them one at a time
    as work arrives, so until a burst Flower's worker page says "Threads: 1" for a pool of 32;
    started now, it shows the pool as it is (and the first burst finds its threads ready)."""
    executor = getattr(pool, "executor", None)
    limit = getattr(pool, "limit", None)
    if executor is None or not isinstance(limit, int) or limit < 2:
        return
    everyone = threading.Barrier(limit)

    def wait_for_the_others() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            everyone.wait(timeout=10)

    for _ in range(limit):
        executor.submit(wait_for_the_others)


@worker_shutting_down.connect
def _stop_sweeper(**_: Any) -> None:
    _sweeper.stop()
