"""A conference's whole story in one command (`conference-worker timeline`), against the real
worker and the local Telnyx API: a duplicate webhook, a merged announcement, a participant who
left before being announced and a refused command, each named; caller data only when asked."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from records.deadletters import DeadLetters
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import call_control_id, client_state, make_event
from testkit.harness import wait
from workers.cli import main

pytestmark = pytest.mark.usefixtures("worker")
NAMES = ("Ada Lovelace", "Bob Leaves", "Grace Hopper")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _quiet(client: redis.Redis) -> bool:
    """Nothing queued, held or waiting in a lane."""
    return client.llen("telnyx") + client.hlen("unacked") + client.zcard("tcw:journal:since") == 0


def test_a_conference_timeline_names_each_thing_that_happened_to_it(
    api: FakeTelnyxServer,
    post: Callable[[dict[str, Any]], None],
    pipeline_redis: redis.Redis,
    letters: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a conference whose recording Telnyx refuses (403 10010: a revoked key) while, with
    # that command in flight, three join and the second leaves before being announced
    api.state.latency = 0.5
    conference_id, leaver = str(uuid.uuid4()), call_control_id()
    api.state.fail_next(1, 403, code="10010", path_contains=conference_id)
    created = make_event("conference.created", conference_id=conference_id)
    post(created)
    # ... and Telnyx delivers the created twice
    post(created)
    for name in NAMES:
        fields = {"call_control_id": leaver} if name == "Bob Leaves" else {}
        post(make_event("conference.participant.joined", conference_id=conference_id,
                        client_state=client_state({"name": name}), **fields))  # fmt: skip
    post(make_event("conference.participant.left", conference_id=conference_id,
                    call_control_id=leaver))  # fmt: skip
    assert wait(lambda: letters.count() == 1, 20)
    assert wait(lambda: _quiet(pipeline_redis), 20)
    # When an operator asks for its timeline, by the conference's id
    text = _run(capsys, "timeline", conference_id)
    # Then it names the duplicate, the merge, the drop and the refusal, and each verdict
    assert "outcome=duplicate" in text
    assert "merged" in text
    assert "why=the participant has left" in text
    assert "status=403" in text
    assert "10010" in text
    verdicts = _verdicts(capsys, conference_id)
    assert sorted(verdicts.values()) == ["dead-lettered", "done", "done", "moot"]
    assert verdicts[letters.list()[0].task_id] == "dead-lettered"
    # And no name or client_state is in it, unless asked for
    states = [client_state({"name": name}) for name in NAMES]
    assert not [s for s in (*NAMES, *states) if s in text]
    assert all(name in _run(capsys, "timeline", conference_id, "--show-caller-data")
               for name in NAMES)  # fmt: skip
    # And an event id or a call control id finds the same conference
    assert _run(capsys, "timeline", created["data"]["id"]) == text
    assert _run(capsys, "timeline", leaver) == text
    # When the refused command is replayed by its code, it is sent and the timeline says so
    _run(capsys, "dead-letters", "replay", "--code", "10010", "--since", "10m")
    assert wait(lambda: _quiet(pipeline_redis) and "dead-lettered" not in
                _verdicts(capsys, conference_id).values(), 20)  # fmt: skip
    assert sorted(_verdicts(capsys, conference_id).values()) == ["done", "done", "done", "moot"]


def test_an_unknown_id_has_no_timeline(
    letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["timeline", str(uuid.uuid4())]) == 1
    assert "no timeline kept" in capsys.readouterr().err


def _verdicts(capsys: pytest.CaptureFixture[str], conference_id: str) -> dict[str, str]:
    lines = [json.loads(line) for line in _run(capsys, "timeline", conference_id, "--json")
             .splitlines()]  # fmt: skip
    return {line["action_id"]: line["verdict"] for line in lines if line["kind"] == "verdict"}
