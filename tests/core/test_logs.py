from __future__ import annotations

import json
import logging

from core.logs import JsonFormatter, add_to_context, log_context


def _line(message: str) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)
    return dict(json.loads(JsonFormatter().format(record)))


def test_lines_carry_the_context_of_their_block_only() -> None:
    with log_context(event_id="e1", conference_id="c1", ignored=None):
        add_to_context(telnyx_request_id="r1")
        with log_context(task_id="t1"):
            inner = _line("inner")
        outer = _line("outer")
    after = _line("after")
    assert inner["event_id"] == "e1"
    assert inner["task_id"] == "t1"
    assert inner["telnyx_request_id"] == "r1"
    assert "task_id" not in outer
    assert outer["conference_id"] == "c1"
    assert "ignored" not in outer
    assert set(after) == {"time", "level", "logger", "message"}
    assert after["message"] == "after"
