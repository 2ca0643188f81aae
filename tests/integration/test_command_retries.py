"""Telnyx's Command Retries page, through the real worker: a command that gets no answer in
TELNYX_HEDGE_AFTER_MS (500 ms) is sent again, identical, and the first answer wins; a 5xx is
sent again at once, once, before the usual backoff."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.events import make_event
from testkit.harness import wait
from tests.integration.conftest import Post

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def silent_api(api: FakeTelnyxServer) -> Iterator[FakeTelnyxServer]:
    # A hang lasts past the worker's 10 s read timeout
    before, api.state.hang_seconds = api.state.hang_seconds, 12.0
    yield api
    api.state.hang_seconds = before


def _count(client: FlaskClient, series: str) -> float:
    page = client.get("/metrics").get_data(as_text=True)
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(series + " "))  # fmt: skip


def _until_accepted(api: FakeTelnyxServer, conference_id: str) -> list[RecordedRequest]:
    """The conference's requests, once one was accepted."""
    assert api.state.wait_for(
        lambda rs: any(r.status == 200 and r.target == conference_id for r in rs), timeout=20
    )
    return [r for r in api.state.requests() if r.target == conference_id]


def test_a_command_telnyx_does_not_answer_is_hedged_and_the_hedge_wins(
    client: FlaskClient, post: Post, silent_api: FakeTelnyxServer
) -> None:
    api, conference_id = silent_api, str(uuid.uuid4())
    won = 'telnyx_command_hedges_total{outcome="hedge_won"}'
    won_before = _count(client, won)
    # Given Telnyx never answering the first record_start for this conference
    api.state.fail_next(1, 0, path_contains=conference_id)
    post(make_event("conference.created", conference_id=conference_id))
    # Then the identical command went out on another connection and was accepted
    first, hedge = _until_accepted(api, conference_id)
    assert (first.status, hedge.status) == (0, 200)
    assert first.body["command_id"] == hedge.body["command_id"]
    # seconds before the 10 s timeout the command would otherwise have waited out
    assert hedge.received_at - first.received_at < 5
    assert wait(lambda: _count(client, won) == won_before + 1, 10)


def test_a_5xx_is_sent_again_at_once_with_the_same_command_id(
    client: FlaskClient, post: Post, api: FakeTelnyxServer
) -> None:
    conference_id = str(uuid.uuid4())
    retried = 'telnyx_actions_total{action="conference.record_start",outcome="retried"}'
    sent = 'telnyx_actions_total{action="conference.record_start",outcome="sent"}'
    retried_before, sent_before = _count(client, retried), _count(client, sent)
    # Given Telnyx answering the first record_start 500
    api.state.fail_next(1, 500, path_contains=conference_id)
    post(make_event("conference.created", conference_id=conference_id))
    # Then it was sent again at once, in the same attempt: no retry after a backoff
    first, again = _until_accepted(api, conference_id)
    assert (first.status, again.status) == (500, 200)
    assert first.body["command_id"] == again.body["command_id"]
    assert wait(lambda: _count(client, sent) == sent_before + 1, 10)
    assert _count(client, retried) == retried_before


def test_a_command_without_a_command_id_is_not_hedged(
    client: FlaskClient, post: Post, api: FakeTelnyxServer
) -> None:
    # A call task's mute, say, has no command_id: a repeat could act twice. The client-level
    # test (tests/telnyx_api/test_hedging.py) shows it; here, that every conference command
    # the worker sends carries one, so that all of them can be hedged.
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    post(make_event("conference.participant.joined", conference_id=conference_id))
    assert api.state.wait_for(
        lambda rs: len([r for r in rs if r.target == conference_id and r.status == 200]) == 2,
        timeout=20,
    )
    assert all(r.body.get("command_id") for r in api.state.requests() if r.target == conference_id)
