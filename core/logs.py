"""Structured logs: one JSON object a line, carrying the ids of the work in hand.

    with log_context(event_id=..., event_type=..., conference_id=..., task_id=...):
        log.info("sent")        # {"time": ..., "level": "INFO", "message": "sent", "event_id": ...}

Context lives in a contextvar, so each worker thread and each request has its own. LOG_FORMAT
chooses `json` (the default, for log platforms) or `text` (for people at a terminal).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039 - never mutated

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block (in this thread or request)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def context_value(name: str) -> Any:
    """A field of the current context (None when unset): e.g. the request id of the API call
    just made."""
    return _context.get().get(name)


def add_to_context(**fields: Any) -> None:
    """Add fields to the current block's context (e.g. a Telnyx request id once known)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


# One encoder for every line (json.dumps with options builds a new one per call).
_encode = json.JSONEncoder(default=str).encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Set up the root logger of a process (its composition root calls this once)."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
