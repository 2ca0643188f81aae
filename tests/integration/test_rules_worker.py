"""A worker started with RULES_FILE does what the file says; a bad file stops it at start."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.redis_server import RedisServer
from sandbox.signer import WebhookSigner
from testkit.processes import ManagedProcess, procfile, start_worker
from tests.conftest import service_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rules.toml"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def rules_worker(
    redis_server: RedisServer, api_server: FakeTelnyxServer, signer: WebhookSigner
) -> Iterator[ManagedProcess]:
    process = start_worker(
        {**service_env(redis_server.url, api_server, signer), "RULES_FILE": str(EXAMPLE)}
    )
    yield process
    process.stop()


@pytest.fixture
def client(redis_server: RedisServer, signer: WebhookSigner) -> FlaskClient:
    return create_app(
        WebSettings(telnyx_public_key=signer.public_key, redis_url=redis_server.url)
    ).test_client()


@pytest.mark.usefixtures("rules_worker")
def test_the_rules_file_decides_the_followups(
    client: FlaskClient, sign: Callable[..., dict[str, str]], api: FakeTelnyxServer
) -> None:
    # Given a conference where Ann joins and Bob leaves, and which then ends by time limit
    conference_id = str(uuid.uuid4())

    def post(event: dict[str, object]) -> None:
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200

    mine = lambda rs: [r for r in rs if r.target == conference_id and r.status == 200]  # noqa: E731
    for event_type, name in (
        ("conference.participant.joined", "Ann"),
        ("conference.participant.left", "Bob"),
    ):
        state = client_state({"name": name})
        post(make_event(event_type, conference_id=conference_id, client_state=state))
    # (An end arriving before they are announced would make the announcements moot.)
    assert api.state.wait_for(lambda rs: len(mine(rs)) >= 2, timeout=20)
    post(make_event("conference.ended", conference_id=conference_id, reason="time_exceeded"))
    # Then the API gets the join and leave announcements and the stop of the recording
    assert api.state.wait_for(lambda rs: len(mine(rs)) >= 3, timeout=20)
    got = sorted((r.action, (r.body or {}).get("payload", "")) for r in mine(api.state.requests()))
    assert got == [
        ("record_stop", ""),
        ("speak", "Ann has joined the conference."),
        ("speak", "Bob has left the conference."),
    ]
    # Both speaks reach every participant (no call_control_ids on the wire): the join's rule
    # leaves call_control_ids out, the leave's says "everyone"
    speaks = [r for r in mine(api.state.requests()) if r.action == "speak"]
    assert [("call_control_ids" in r.body) for r in speaks] == [False, False]


@pytest.mark.usefixtures("rules_worker")
def test_leaves_together_are_announced_in_one_sentence(
    client: FlaskClient, sign: Callable[..., dict[str, str]], api: FakeTelnyxServer
) -> None:
    # Given a conference (its created never delivered) that three people leave at once, one of
    # them without a name
    conference_id = str(uuid.uuid4())
    for name in ("Ann", "Bob", None):
        state = {"client_state": client_state({"name": name})} if name else {}
        event = make_event("conference.participant.left", conference_id=conference_id, **state)
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    # Then, after the settle time, one speak says so (the rule's words, merged by default)
    mine = lambda rs: [r for r in rs if r.target == conference_id and r.status == 200]  # noqa: E731
    assert api.state.wait_for(lambda rs: len(mine(rs)) >= 1, timeout=20)
    assert not api.state.wait_for(lambda rs: len(mine(rs)) > 1, timeout=1.5)
    [speak] = mine(api.state.requests())
    assert speak.body["payload"] == "Ann, Bob and one other have left the conference."


def test_a_bad_rules_file_stops_the_worker_with_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('# comment\n[[rule]]\non = "conference.created"\naction = "conference.fly"\n')
    env = {"PATH": os.environ["PATH"], "TELNYX_API_KEY": "k", "RULES_FILE": str(bad)}
    process = ManagedProcess("worker", procfile()["worker"], env)
    assert process.process.wait(timeout=60) != 0
    assert f"RULES_FILE {bad}:2: rule 1: unknown action 'conference.fly'" in process.output()
