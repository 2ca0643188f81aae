"""What Flower is told of each command (tasks/report.py): only while task events are on, and in
the order and form Flower's state machine reads."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest

from records.fleet import Clearance, Go
from tasks import report
from telnyx_api.errors import APIError, ErrorDetail


class Dispatcher:
    """Celery's event dispatcher, as far as report uses it: its switches, and what it sent."""

    def __init__(self, enabled: bool, groups: set[str]) -> None:
        self.enabled, self.groups = enabled, groups
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, type_: str, **fields: Any) -> None:
        self.sent.append((type_, fields))


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    d = Dispatcher(enabled=True, groups={"worker", "task"})
    report.use_dispatcher(d)
    yield d
    report.use_dispatcher(None)


ARGS = report.command_args("conf-1", ["e1", "e2"], 2)


def test_nothing_is_sent_while_task_events_are_off(dispatcher: Dispatcher) -> None:
    dispatcher.groups = {"worker"}  # a worker's default, until Flower switches task events on
    report.attempt("c1", "conference.speak", ARGS, 1)
    report.moot("c1", "conference.speak", ARGS, "the participant has left", started=False)
    assert dispatcher.sent == []
    report.use_dispatcher(None)  # outside a worker
    report.attempt("c1", "conference.speak", ARGS, 1)


def test_an_accepted_command_after_a_retry(dispatcher: Dispatcher) -> None:
    refused = APIError(503, (ErrorDetail("10007", "Unavailable", "try later"),), request_id="r1")
    report.attempt("c1", "conference.speak", ARGS, 1)
    report.retrying("c1", refused, 2.0)
    report.attempt("c1", "conference.speak", ARGS, 2)
    report.accepted("c1", request_id="r2", command_id="cmd", attempts=2, started=0.0)
    kinds = [kind for kind, _ in dispatcher.sent]
    assert kinds == ["task-received", "task-started", "task-retried", "task-received",
                     "task-started", "task-succeeded"]  # fmt: skip
    received = dispatcher.sent[3][1]
    assert (received["name"], received["args"], received["retries"]) == (
        "conference.speak",
        "conference=conf-1 events=e1,e2 names=2",
        1,
    )
    reason = dispatcher.sent[2][1]["exception"]
    assert reason.startswith("HTTP 503 [10007] Unavailable: try later request id r1; next attempt")
    result = ast.literal_eval(dispatcher.sent[-1][1]["result"])
    assert result == {"request_id": "r2", "command_id": "cmd", "attempts": 2}


def test_a_failure_names_its_dead_letter_and_a_moot_one_says_why(dispatcher: Dispatcher) -> None:
    report.failed("c1", "expired: the event is 200s old", dead_letter="c1")
    report.moot("c2", "conference.speak", ARGS, "the conference has ended", started=False)
    report.waiting("c3", "conference.record_start", ARGS, 0, Go(4.0, Clearance.OPEN), "first")
    report.waiting("c4", "conference.speak", ARGS, 0, Go(1.5, Clearance.PACED, 0, 7), "normal")
    failed, received, revoked, waiting_received, waiting, _, paced = dispatcher.sent
    assert failed[0] == "task-failed"
    assert "replay: conference-worker dead-letters replay c1" in failed[1]["exception"]
    assert (received[0], revoked[0]) == ("task-received", "task-revoked")
    assert revoked[1]["exception"] == "moot: the conference has ended"
    assert waiting_received[0] == "task-received"
    assert waiting[0] == "task-retried"
    assert waiting[1]["exception"].startswith("waiting for Telnyx (Telnyx is failing")
    assert paced[1]["exception"].startswith(
        "waiting for Telnyx (the fleet is paced, 7 commands ahead of it, priority normal)"
    )
