"""The README's "After an incident", run as written: a revoked key's 403s, then the timeline,
the replay by filter, and the timeline again; against a real worker and the local API."""

from __future__ import annotations

import json
import os
import shlex
import uuid
from collections.abc import Callable
from pathlib import Path

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
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    """The commands of the README's worked example, in order."""
    text = README.read_text()
    block = text.split("<!-- after-an-incident: start -->", 1)[1]
    block = block.split("<!-- after-an-incident: end -->", 1)[0]
    return [line for line in block.splitlines() if line.startswith("conference-worker ")]


def test_the_readme_worked_example_runs_as_written(
    client: FlaskClient,
    sign: Sign,
    api: FakeTelnyxServer,
    pipeline_redis: redis.Redis,
    pipeline_redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a key revoked while a conference is created and Alice joins: both refused (403 10010)
    monkeypatch.setenv("REDIS_URL", pipeline_redis_url)
    # (The CLI writes the replay's entries: with the timeline on, as the worker's.)
    monkeypatch.setenv("TIMELINE_RETENTION_HOURS", "24")
    letters = DeadLetters(pipeline_redis)
    letters.purge()
    conference_id = str(uuid.uuid4())
    monkeypatch.setenv("CONFERENCE_ID", conference_id)
    api.state.fail_next(2, 403, code="10010", path_contains=conference_id)
    for event in (
        make_event("conference.created", conference_id=conference_id),
        make_event("conference.participant.joined", conference_id=conference_id,
                   client_state=client_state({"name": "Alice Martin"})),
    ):  # fmt: skip
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    assert wait(lambda: letters.count() == 2, 20)
    # When the operator runs the README's commands, as written (the key restored meanwhile)
    commands = readme_commands()
    assert len(commands) == 6
    outputs = [_run(commands[i], capsys) for i in range(5)]
    # Then the timeline names both refusals, and nobody's name
    assert outputs[0].count("dead_letter ") == 2
    assert "Alice" not in outputs[0]
    assert len(json.loads(outputs[1])) == 2
    assert json.loads(outputs[2])["summary"]["replayed"] == 2
    assert json.loads(outputs[3])["summary"] == {
        "replayed": 2, "already_done": 0, "moot": 0, "not_found": 0,
    }  # fmt: skip
    assert json.loads(outputs[4])["summary"]["replayed"] == 0
    accepted = lambda: [r.action for r in api.state.requests()  # noqa: E731
                        if r.target == conference_id and r.status == 200]  # fmt: skip
    assert wait(lambda: sorted(accepted()) == ["record_start", "speak"], 20)
    # And the last timeline shows each replayed and sent
    # (Telnyx's answer comes a moment before the settle that records it.)
    assert wait(lambda: _run(commands[5], capsys).count(": done (") == 2, 20)
    assert _run(commands[5], capsys).count("replay ") == 2


def _run(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = shlex.split(os.path.expandvars(command))
    assert argv[0] == "conference-worker"
    assert main(argv[1:]) == 0, command
    return capsys.readouterr().out
