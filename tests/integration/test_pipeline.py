"""Signed webhook -> ingest -> real Redis -> real Celery worker -> local Telnyx API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from core.naming import command_id
from records.deadletters import DeadLetters
from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.events import client_state, encode, make_event
from testkit.harness import wait
from testkit.processes import ManagedProcess

Sign = Callable[..., dict[str, str]]
pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def dead_letters(pipeline_redis: redis.Redis) -> DeadLetters:
    store = DeadLetters(pipeline_redis)
    store.purge()
    return store


@pytest.fixture
def conference_id() -> str:
    return str(uuid.uuid4())


def _for(conference_id: str) -> Callable[[list[RecordedRequest]], list[RecordedRequest]]:
    return lambda requests: [r for r in requests if r.target == conference_id]


def _post(client: FlaskClient, sign: Sign, event: dict[str, object]) -> None:
    body = encode(event)
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 200, response.json


def test_created_and_joined_become_one_record_start_and_one_speak(
    client: FlaskClient, sign: Sign, api: FakeTelnyxServer, conference_id: str
) -> None:
    # Given a conference that is created and joined by Alice
    created = make_event("conference.created", conference_id=conference_id)
    joined = make_event(
        "conference.participant.joined",
        conference_id=conference_id,
        client_state=client_state({"name": "Alice"}),
    )
    # When Telnyx delivers both webhooks
    _post(client, sign, created)
    _post(client, sign, joined)
    # Then the API receives exactly one record_start and one speak, with the right bodies
    mine = _for(conference_id)
    assert api.state.wait_for(lambda rs: len(mine(rs)) >= 2, timeout=20)
    [record] = [r for r in mine(api.state.commands()) if r.action == "record_start"]
    [speak] = [r for r in mine(api.state.commands()) if r.action == "speak"]
    assert record.body == {
        "format": "mp3",
        "channels": "single",
        "command_id": command_id(created["data"]["id"], f"conference.record_start:{conference_id}"),  # type: ignore[index]
    }
    assert speak.body == {
        "payload": "Alice has joined the conference.",
        "voice": "female",
        "language": "en-US",
        "payload_type": "text",
        "command_id": command_id(joined["data"]["id"], f"conference.speak:{conference_id}"),  # type: ignore[index]
    }
    assert speak.headers["authorization"] == "Bearer KEY-test-0123456789"
    assert len(mine(api.state.requests())) == 2


def test_an_event_without_followups_sends_nothing(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    conference_id: str,
) -> None:
    event = make_event("conference.participant.left", conference_id=conference_id)
    _post(client, sign, event)
    marker = f"{event['data']['id']}: no follow-up"  # type: ignore[index]
    _wait_for_log(worker, marker)
    assert _for(conference_id)(api.state.requests()) == []


def test_transient_failures_are_retried_until_accepted(
    client: FlaskClient, sign: Sign, api: FakeTelnyxServer, conference_id: str
) -> None:
    # Given an API that fails the next three calls for this conference: 503, 429, 500
    api.state.fail_next(1, 503, path_contains=conference_id)
    api.state.fail_next(
        1, 429, code="10011", path_contains=conference_id, headers={"retry-after": "0"}
    )
    api.state.fail_next(1, 500, path_contains=conference_id)
    # When the conference is created
    _post(client, sign, make_event("conference.created", conference_id=conference_id))
    # Then the fourth attempt lands, and each attempt carried the same command_id
    mine = _for(conference_id)
    assert api.state.wait_for(lambda rs: any(200 <= r.status < 300 for r in mine(rs)), timeout=30)
    attempts = mine(api.state.requests())
    assert [r.status for r in attempts] == [503, 429, 500, 200]
    assert len({r.body["command_id"] for r in attempts}) == 1


def test_a_terminal_error_is_not_retried(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    conference_id: str,
) -> None:
    # Given a conference that has already ended
    api.state.end_conference(conference_id)
    # When a join arrives for it
    event = make_event("conference.participant.joined", conference_id=conference_id)
    _post(client, sign, event)
    # Then the worker logs the Telnyx error code and gives up after one attempt
    _wait_for_log(
        worker,
        f"conference.speak {conference_id} (event {event['data']['id']}): not retried (codes 90019)",
    )  # type: ignore[index]
    assert [r.status for r in _for(conference_id)(api.state.requests())] == [422]


def test_an_old_event_is_not_acted_on(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    dead_letters: DeadLetters,
    conference_id: str,
) -> None:
    # Given a join that happened an hour ago (the queue was backed up, say)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    event = make_event(
        "conference.participant.joined", conference_id=conference_id, occurred_at=an_hour_ago
    )
    _post(client, sign, event)
    # Then nobody is told about it now: it is given up on as expired, for an operator to see
    _wait_for_log(worker, f"(event {event['data']['id']}): expired: the event is 3600s old")  # type: ignore[index]
    assert _for(conference_id)(api.state.requests()) == []
    [letter] = dead_letters.list()
    assert letter.reason == "expired"


def test_exhausted_retries_dead_letter_and_replay_lands_once(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    dead_letters: DeadLetters,
    conference_id: str,
) -> None:
    # Given an API that refuses every attempt the worker makes (1 + TASK_MAX_RETRIES = 11)
    # with a retryable 408 (5xx in a row would open the fleet's circuit: tests/faults)
    api.state.fail_next(11, 408, path_contains=conference_id)
    event = make_event("conference.created", conference_id=conference_id)
    _post(client, sign, event)
    # Then the action is dead-lettered with its error
    store = dead_letters
    assert wait(lambda: store.count() == 1, timeout=30)
    [letter] = store.list()
    assert letter.reason == "retries_exhausted"
    assert letter.status == 408
    assert letter.retries == 10
    assert letter.event_id == event["data"]["id"]  # type: ignore[index]
    # When an operator replays it, the API is back
    assert store.replay(letter.task_id)
    mine = _for(conference_id)
    assert api.state.wait_for(lambda rs: any(r.status == 200 for r in mine(rs)), timeout=20)
    assert [r.status for r in mine(api.state.requests())] == [408] * 11 + [200]
    assert store.count() == 0


def test_a_refused_command_is_dead_lettered_at_once(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    dead_letters: DeadLetters,
    conference_id: str,
) -> None:
    api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
    _post(client, sign, make_event("conference.created", conference_id=conference_id))
    store = dead_letters
    assert wait(lambda: store.count() == 1, timeout=20)
    assert store.list()[0].reason == "rejected"
    assert store.list()[0].codes == ["10010"]
    assert [r.status for r in _for(conference_id)(api.state.requests())] == [403]


def _wait_for_log(worker: ManagedProcess, text: str, timeout: float = 20) -> None:
    worker.wait_until(lambda: text in worker.output(), timeout)


def test_metrics_count_the_workers_actions(
    client: FlaskClient, sign: Sign, api: FakeTelnyxServer, conference_id: str
) -> None:
    # Given an announcement that needs one retry (its 503, and the copy sent at once after it)
    api.state.fail_next(2, 503, path_contains=conference_id)
    _post(client, sign, make_event("conference.participant.joined", conference_id=conference_id))
    assert api.state.wait_for(
        lambda rs: any(r.status == 200 and r.target == conference_id for r in rs), timeout=20
    )

    # Then /metrics (on the web process) shows what the worker did
    def count(series: str) -> float:
        page = client.get("/metrics").get_data(as_text=True)
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in page.splitlines()
            if line.startswith(series + " ")
        )

    assert wait(
        lambda: count('telnyx_actions_total{action="conference.speak",outcome="sent"}') >= 1, 10
    )
    assert count('telnyx_actions_total{action="conference.speak",outcome="retried"}') >= 1
    assert count("telnyx_action_latency_seconds_count") >= 1


def test_every_line_of_work_carries_its_ids(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    conference_id: str,
) -> None:
    event = make_event("conference.created", conference_id=conference_id)
    _post(client, sign, event)
    assert api.state.wait_for(
        lambda rs: any(r.status == 200 and r.target == conference_id for r in rs), timeout=20
    )

    def sent_line() -> dict[str, Any] | None:
        for line in worker.output().splitlines():
            if (
                line.startswith("{")
                and conference_id in line
                and "record_start" in line
                and line.rstrip().endswith("}")
            ):
                record = json.loads(line)
                if record.get("logger") == "tasks.drain" and record["message"].endswith(": sent"):
                    return dict(record)
        return None

    assert wait(lambda: sent_line() is not None, 10)
    record = sent_line()
    assert record is not None
    assert record["event_id"] == event["data"]["id"]  # type: ignore[index]
    assert record["event_type"] == "conference.created"
    assert record["conference_id"] == conference_id
    assert record["action"] == "conference.record_start"
    assert record["task_id"]
    assert record["telnyx_request_id"]
