"""Dead letters replayed in bulk, by what their failures share, through their conferences'
lanes: a real worker, the web app in-process, the local Telnyx API (docs/lanes.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from records.deadletters import DeadLetters
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from testkit.harness import wait
from workers.cli import main

Sign = Callable[..., dict[str, str]]
pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def store(
    pipeline_redis: redis.Redis, pipeline_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> DeadLetters:
    monkeypatch.setenv("REDIS_URL", pipeline_redis_url)
    letters = DeadLetters(pipeline_redis)
    letters.purge()
    return letters


def _post(client: FlaskClient, sign: Sign, event: dict[str, object]) -> None:
    body = encode(event)
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 200, response.json


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["dead-letters", *argv]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def _accepted(api: FakeTelnyxServer, conference_id: str) -> list[str]:
    return [r.action or "" for r in api.state.requests()
            if r.target == conference_id and r.status == 200]  # fmt: skip


def test_a_replay_by_code_and_time_sends_exactly_the_refused_ones_once(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    store: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given two conferences whose commands Telnyx refused with 10010 (a revoked key), and a
    # third whose command it refused for another reason
    revoked, other = [str(uuid.uuid4()) for _ in range(2)], str(uuid.uuid4())
    for conference_id in revoked:
        api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
        _post(client, sign, make_event("conference.created", conference_id=conference_id))
    api.state.fail_next(1, 400, code="10015", path_contains=other)
    _post(client, sign, make_event("conference.created", conference_id=other))
    assert wait(lambda: store.count() == 3, timeout=20)
    refused = sorted(x.task_id for x in store.list() if x.codes == ["10010"])
    # When an operator looks first (a dry run changes nothing) ...
    dry = _cli(capsys, "replay", "--code", "10010", "--since", "10m", "--dry-run")
    assert sorted(dry["replayed"]) == refused
    assert store.count() == 3
    # ... then replays the refused ones, by code and time
    done = _cli(capsys, "replay", "--code", "10010", "--since", "10m")
    # Then exactly those are replayed, each through its lane, and accepted once
    assert sorted(done["replayed"]) == refused
    assert done["summary"] == {"replayed": 2, "already_done": 0, "moot": 0, "not_found": 0}
    assert wait(lambda: all(_accepted(api, c) == ["record_start"] for c in revoked), 20)
    assert [x.codes for x in store.list()] == [["10015"]]
    # And a second replay finds nothing to send
    again = _cli(capsys, "replay", "--code", "10010", "--since", "10m")
    assert again["summary"]["replayed"] == 0
    assert all(_accepted(api, c) == ["record_start"] for c in revoked)
    assert _accepted(api, other) == []


def test_a_replay_reports_an_announcement_for_an_ended_conference_as_moot(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    store: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a join announcement refused with 10010, and then the conference ends
    conference_id = str(uuid.uuid4())
    api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
    joined = make_event("conference.participant.joined", conference_id=conference_id,
                        client_state=client_state({"name": "Alice"}))  # fmt: skip
    _post(client, sign, joined)
    assert wait(lambda: store.count() == 1, timeout=20)
    _post(client, sign, make_event("conference.ended", conference_id=conference_id))
    # When it is replayed (after the lane has heard of the end)
    assert wait(lambda: _lane_ended(store, conference_id), timeout=20)
    done = _cli(capsys, "replay", "--conference", conference_id)
    # Then it is reported moot, not sent, and a second replay finds nothing
    [why] = done["moot"].values()
    assert why == "the conference has ended"
    assert done["summary"]["replayed"] == 0
    assert store.count() == 0
    assert [r.status for r in api.state.requests() if r.target == conference_id] == [403]
    assert _cli(capsys, "replay", "--conference", conference_id)["summary"]["moot"] == 0


def _lane_ended(store: DeadLetters, conference_id: str) -> bool:
    return store.client.hget(f"tcw:lane:{conference_id}", "ended") == b"1"
