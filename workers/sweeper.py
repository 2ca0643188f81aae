"""A background thread in each worker that recovers task messages lost in transit."""

from __future__ import annotations

import logging
import threading

import redis

from tasks.journal import Journal

log = logging.getLogger(__name__)


class Sweeper(threading.Thread):
    """Every `interval` seconds, re-queue journal entries pending longer than `grace`."""

    def __init__(self, journal: Journal, *, grace: float, interval: float) -> None:
        super().__init__(name="journal-sweeper", daemon=True)
        self._journal = journal
        self._grace = grace
        self._interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                sweep = self._journal.sweep(self._grace, lock_seconds=self._interval)
            except redis.RedisError as exc:
                log.warning("journal sweep skipped: %s", exc)
                continue
            if sweep.requeued:
                log.warning("re-queued %d task message(s) lost in transit", sweep.requeued)
            elif sweep.skipped_backlog:
                log.info("journal sweep deferred: %d overdue, queue backlogged", sweep.overdue)

    def stop(self) -> None:
        self._stopping.set()
