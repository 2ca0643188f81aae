"""The base of every task of ours: no caller data in any inspection tool.

`celery inspect active`, `reserved` and `scheduled` show a task's arguments as they are unless
asked for the safe form; ours carry the raw webhook (phone numbers, client_state) or the text
to speak. Their requests always answer with the `argsrepr` the message carries instead: ids
only (records/messages.py, tasks/actions.py). Flower already asks for the safe form.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.worker.request import Request


class SafeRequest(Request):
    def info(self, safe: bool = False) -> Any:
        return super().info(safe=True)


class SafeTask(Task):  # type: ignore[type-arg]
    Request = "tasks.safe:SafeRequest"
