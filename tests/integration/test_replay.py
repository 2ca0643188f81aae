"""Dead letters replayed in bulk, by what their failures share, through their conferences'
lanes: a real worker, the web app in-process, the local Telnyx API (docs/lanes.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from records.deadletters import DeadLetters
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, make_event
from testkit.harness import wait
from tests.integration.conftest import Post
from workers.cli import main

pytestmark = pytest.mark.usefixtures("worker")


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["dead-letters", *argv]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def _accepted(api: FakeTelnyxServer, conference_id: str) -> list[str]:
    return [r.action or "" for r in api.state.requests()
            if r.target == conference_id and r.status == 200]  # fmt: skip


def test_a_replay_by_code_and_time_sends_exactly_the_refused_ones_once(
    post: Post,
    api: FakeTelnyxServer,
    letters: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given two conferences whose commands Telnyx refused with 10010 (a revoked key), and a
    # third whose command it refused for another reason
    revoked, other = [str(uuid.uuid4()) for _ in range(2)], str(uuid.uuid4())
    for conference_id in revoked:
        api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
        post(make_event("conference.created", conference_id=conference_id))
    api.state.fail_next(1, 400, code="10015", path_contains=other)
    post(make_event("conference.created", conference_id=other))
    assert wait(lambda: letters.count() == 3, timeout=20)
    refused = sorted(x.task_id for x in letters.list() if x.codes == ["10010"])
    # When an operator looks first (a dry run changes nothing) ...
    dry = _cli(capsys, "replay", "--code", "10010", "--since", "10m", "--dry-run")
    assert sorted(dry["replayed"]) == refused
    assert letters.count() == 3
    # ... then replays the refused ones, by code and time
    done = _cli(capsys, "replay", "--code", "10010", "--since", "10m")
    # Then exactly those are replayed, each through its lane, and accepted once
    assert sorted(done["replayed"]) == refused
    assert done["summary"] == {"replayed": 2, "already_done": 0, "moot": 0, "not_found": 0}
    assert wait(lambda: all(_accepted(api, c) == ["record_start"] for c in revoked), 20)
    assert [x.codes for x in letters.list()] == [["10015"]]
    # And a second replay finds nothing to send
    again = _cli(capsys, "replay", "--code", "10010", "--since", "10m")
    assert again["summary"]["replayed"] == 0
    assert all(_accepted(api, c) == ["record_start"] for c in revoked)
    assert _accepted(api, other) == []


def test_a_replay_reports_an_announcement_for_an_ended_conference_as_moot(
    post: Post,
    api: FakeTelnyxServer,
    letters: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a join announcement refused with 10010, and then the conference ends
    conference_id = str(uuid.uuid4())
    api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
    joined = make_event("conference.participant.joined", conference_id=conference_id,
                        client_state=client_state({"name": "Alice"}))  # fmt: skip
    post(joined)
    assert wait(lambda: letters.count() == 1, timeout=20)
    post(make_event("conference.ended", conference_id=conference_id))
    # When it is replayed (after the lane has heard of the end)
    assert wait(lambda: _lane_ended(letters, conference_id), timeout=20)
    done = _cli(capsys, "replay", "--conference", conference_id)
    # Then it is reported moot, not sent, and a second replay finds nothing
    [why] = done["moot"].values()
    assert why == "the conference has ended"
    assert done["summary"]["replayed"] == 0
    assert letters.count() == 0
    assert [r.status for r in api.state.requests() if r.target == conference_id] == [403]
    assert _cli(capsys, "replay", "--conference", conference_id)["summary"]["moot"] == 0


def _lane_ended(letters: DeadLetters, conference_id: str) -> bool:
    return letters.client.hget(f"tcw:lane:{conference_id}", "ended") == b"1"
