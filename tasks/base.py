"""The base of every task of ours, and how a worker reads each task message it receives.

- No caller data in any inspection tool. `celery inspect active`, `reserved` and `scheduled`
  show a task's arguments as they are unless asked for the safe form; ours carry the raw webhook
  (phone numbers, client_state) or the text to speak. Their requests always answer with the
  `argsrepr` the message carries instead: ids only (records/messages.py, tasks/actions.py).
  Flower already asks for the safe form.
- An ETA by Redis's clock. A message whose header says so (records/messages.py, ETA_CLOCK) is
  due when Redis's clock reaches its ETA, not this host's: the worker holds it until its own
  clock reaches the same moment (records/clock.py). Other messages' ETAs are read as Celery
  reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import Task
from celery.worker.request import Request

from records.messages import ETA_CLOCK, REDIS_CLOCK
from tasks import runtime


class TaskRequest(Request):
    def info(self, safe: bool = False) -> Any:
        return super().info(safe=True)

    @property
    def eta(self) -> datetime | None:
        eta: datetime | None = super().eta
        if eta is None or self.request_dict.get(ETA_CLOCK) != REDIS_CLOCK:
            return eta
        return runtime.current().clock.local(eta)


class BaseTask(Task):  # type: ignore[type-arg]
    Request = "tasks.base:TaskRequest"
