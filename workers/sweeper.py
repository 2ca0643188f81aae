"""A background thread in each worker that recovers task messages lost in transit, deletes
dead letters past their time, and records that the worker is alive (/metrics' telnyx_workers)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading

import redis

from records.deadletters import DeadLetters
from records.journal import Journal
from records.metrics import Metrics

log = logging.getLogger(__name__)


class Sweeper(threading.Thread):
    """Every `interval` seconds, re-queue journal entries pending longer than `grace`."""

    def __init__(
        self,
        journal: Journal,
        *,
        grace: float,
        interval: float,
        dead_letters: DeadLetters | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(name="journal-sweeper", daemon=True)
        self._journal = journal
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._grace = grace
        self._interval = interval
        self._stopping = threading.Event()
        # Recorded as seen each round (/metrics counts the workers seen lately).
        self.name_of_worker = f"{socket.gethostname()}:{os.getpid()}"

    def run(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._seen()
        while not self._stopping.wait(self._interval):
            try:
                self._seen()
                sweep = self._journal.sweep(self._grace, lock_seconds=self._interval)
                expired = self._dead_letters.expire() if self._dead_letters else 0
            except redis.RedisError as exc:
                log.warning("journal sweep skipped: %s", exc)
                continue
            if sweep.requeued:
                log.warning("re-queued %d task message(s) lost in transit", sweep.requeued)
            if expired:
                log.info("deleted %d dead letter(s) past their time", expired)
            if sweep.skipped_backlog:
                log.info("journal sweep deferred: %d overdue, queue backlogged", sweep.overdue)

    def _seen(self) -> None:
        if self._metrics is not None:
            self._metrics.worker_seen(self.name_of_worker)

    def stop(self) -> None:
        self._stopping.set()
