"""The 20 examples of Telnyx's Go and Ruby SDK pages for this API, transcribed into Python with
each call's arguments kept as they are (ids like "id" included), run against the local
Telnyx-compatible server: code written against the official SDKs runs here unchanged but for
the import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.api.http import FakeTelnyxServer
from telnyx_api import TelnyxClient
from telnyx_api.errors import InvalidRequestError
from tests.conftest import API_KEY

CCID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"

Call = Callable[[TelnyxClient], Any]

# Go: client.Calls.Actions.Enqueue(ctx, "call_control_id", telnyx.CallActionEnqueueParams{...})
# and so on; a Go params struct becomes keyword arguments, an empty one none at all.
GO: list[tuple[str, Call]] = [
    ("enqueue", lambda c: c.calls.actions.enqueue("call_control_id", queue_name="support")),
    ("leave_queue", lambda c: c.calls.actions.leave_queue("call_control_id")),
    ("list", lambda c: list(c.conferences.list())),
    ("create", lambda c: c.conferences.create(call_control_id=CCID, name="Business")),
    ("retrieve", lambda c: c.conferences.retrieve("id")),
    ("hold", lambda c: c.conferences.actions.hold("id")),
    ("join", lambda c: c.conferences.actions.join("id", call_control_id=CCID)),
    (
        "leave",
        lambda c: c.conferences.actions.leave(
            "id", call_control_id="c46e06d7-b78f-4b13-96b6-c576af9640ff"
        ),
    ),
    ("mute", lambda c: c.conferences.actions.mute("id")),
    ("play", lambda c: c.conferences.actions.play("id")),
    ("record_pause", lambda c: c.conferences.actions.record_pause("id")),
    ("record_resume", lambda c: c.conferences.actions.record_resume("id")),
    ("record_start", lambda c: c.conferences.actions.record_start("id", format="wav")),
    ("record_stop", lambda c: c.conferences.actions.record_stop("id")),
    (
        "speak",
        lambda c: c.conferences.actions.speak(
            "id", payload="Say this to participants", voice="female"
        ),
    ),
    ("stop", lambda c: c.conferences.actions.stop("id")),
    ("unhold", lambda c: c.conferences.actions.unhold("id", call_control_ids=[CCID])),
    ("unmute", lambda c: c.conferences.actions.unmute("id")),
    (
        "update",
        lambda c: c.conferences.actions.update(
            "id", call_control_id=CCID, supervisor_role="whisper"
        ),
    ),
    ("list_participants", lambda c: list(c.conferences.list_participants("conference_id"))),
]

# Ruby: client.calls.actions.enqueue("call_control_id", queue_name: "support") and so on; a
# symbol (:wav) becomes its string. Transcribed, each Ruby call is the Go call's Python, but for
# record_start, where the Ruby page writes `format_:` (format is a Ruby method name).
RUBY: list[tuple[str, Call]] = [
    (
        name,
        (lambda c: c.conferences.actions.record_start("id", format_="wav"))
        if name == "record_start"
        else call,
    )
    for name, call in GO
]

# What reaches the API for each: method and path (after /v2), and the body where there is one.
EXPECTED: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "enqueue": ("POST", "/calls/call_control_id/actions/enqueue", {"queue_name": "support"}),
    "leave_queue": ("POST", "/calls/call_control_id/actions/leave_queue", {}),
    "list": ("GET", "/conferences", None),
    "create": ("POST", "/conferences", {"call_control_id": CCID, "name": "Business"}),
    "retrieve": ("GET", "/conferences/id", None),
    # No call_control_ids: every participant, as the API reads it
    "hold": ("POST", "/conferences/id/actions/hold", {}),
    "join": ("POST", "/conferences/id/actions/join", {"call_control_id": CCID}),
    "leave": (
        "POST",
        "/conferences/id/actions/leave",
        {"call_control_id": "c46e06d7-b78f-4b13-96b6-c576af9640ff"},
    ),
    "mute": ("POST", "/conferences/id/actions/mute", {}),
    "play": ("POST", "/conferences/id/actions/play", {}),
    "record_pause": ("POST", "/conferences/id/actions/record_pause", {}),
    "record_resume": ("POST", "/conferences/id/actions/record_resume", {}),
    "record_start": ("POST", "/conferences/id/actions/record_start", {"format": "wav"}),
    "record_stop": ("POST", "/conferences/id/actions/record_stop", {}),
    "speak": (
        "POST",
        "/conferences/id/actions/speak",
        {"payload": "Say this to participants", "voice": "female"},
    ),
    "stop": ("POST", "/conferences/id/actions/stop", {}),
    "unhold": ("POST", "/conferences/id/actions/unhold", {"call_control_ids": [CCID]}),
    "unmute": ("POST", "/conferences/id/actions/unmute", {}),
    "update": (
        "POST",
        "/conferences/id/actions/update",
        {"call_control_id": CCID, "supervisor_role": "whisper"},
    ),
    "list_participants": ("GET", "/conferences/conference_id/participants", None),
}


def test_both_pages_have_all_twenty_operations() -> None:
    assert [name for name, _ in GO] == [name for name, _ in RUBY] == list(EXPECTED)
    assert len(EXPECTED) == 20


@pytest.fixture
def client(api: FakeTelnyxServer) -> Iterator[TelnyxClient]:
    # The pages call conferences by the ids "id" and "conference_id"; the server has them.
    api.state.add_conference("Sales", id="id")
    api.state.add_conference("Support", id="conference_id")
    with TelnyxClient(API_KEY, base_url=api.base_url) as telnyx:
        yield telnyx


@pytest.mark.parametrize(("name", "call"), GO + RUBY, ids=[f"go-{n}" for n, _ in GO] + [f"ruby-{n}" for n, _ in RUBY])  # fmt: skip
def test_the_sdk_page_example_runs_unchanged(
    name: str, call: Call, client: TelnyxClient, api: FakeTelnyxServer
) -> None:
    call(client)
    method, path, body = EXPECTED[name]
    [request] = api.state.requests()
    assert (request.method, request.path.split("?")[0], request.status) == (
        method,
        "/v2" + path,
        200,
    )
    if body is not None:
        sent = {k: v for k, v in (request.body or {}).items() if k != "command_id"}
        assert sent == body


def test_an_empty_list_of_participants_is_refused(client: TelnyxClient) -> None:
    # Telnyx would read it as every participant; it is more likely a filter that matched nobody
    with pytest.raises(InvalidRequestError, match="non-empty list"):
        client.conferences.actions.speak("id", payload="Hi", voice="female", call_control_ids=[])


def test_record_start_takes_format_once(client: TelnyxClient) -> None:
    with pytest.raises(InvalidRequestError, match="give format"):
        client.conferences.actions.record_start("id", format="wav", format_="mp3")
    with pytest.raises(InvalidRequestError, match="give format"):
        client.conferences.actions.record_start("id")
