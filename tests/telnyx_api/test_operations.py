"""All 20 operations send exactly the documented request (method, path, query, body, headers)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from telnyx_api.client import TelnyxClient
from telnyx_api.resources import CommandResult, Conference, Participant
from tests.telnyx_api.operations import CONF, OPERATIONS, Operation

CONFERENCE = {
    "id": CONF, "name": "Sales", "record_type": "conference", "created_at": "2026-01-01T00:00:00Z",
    "expires_at": "2026-01-01T01:00:00Z", "status": "in_progress", "brand_new_field": 1,
}  # fmt: skip
PARTICIPANT = {
    "id": "p1", "record_type": "participant", "call_control_id": "v3:x", "call_leg_id": "l1",
    "conference": {"id": CONF, "name": "Sales"}, "whisper_call_control_ids": [], "created_at": "t",
    "updated_at": "t", "end_conference_on_exit": False, "soft_end_conference_on_exit": False,
    "status": "joined", "muted": True, "on_hold": False,
}  # fmt: skip


def test_there_are_twenty_operations() -> None:
    assert len(OPERATIONS) == 20


def _answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/participants"):
        return httpx.Response(
            200, json={"data": [PARTICIPANT], "meta": {"page_number": 1, "total_pages": 1}}
        )
    if request.method == "GET" and path == "/v2/conferences":
        return httpx.Response(
            200, json={"data": [CONFERENCE], "meta": {"page_number": 1, "total_pages": 1}}
        )
    if "/actions/" in path:
        return httpx.Response(200, json={"data": {"result": "ok"}})
    return httpx.Response(200, json={"data": CONFERENCE})


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_operation_sends_the_documented_request(op: Operation) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _answer(request)

    client = TelnyxClient(
        "KEY", base_url="https://api.telnyx.com/v2", transport=httpx.MockTransport(handler)
    )
    result = op.call(client)
    [request] = seen
    assert request.method == op.method
    assert request.url.host == "api.telnyx.com"
    assert request.url.path == op.path
    assert dict(request.url.params) == op.query
    assert request.headers["authorization"] == "Bearer KEY"
    assert request.headers["accept"] == "application/json"
    if op.method == "POST":
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == op.body
    else:
        assert request.content == b""
    _assert_parsed(op, result)


def _assert_parsed(op: Operation, result: Any) -> None:
    if op.name.startswith(("actions.", "calls.")):
        assert isinstance(result, CommandResult)
        assert result.result == "ok"
    elif op.name == "conferences.list":
        assert [c.name for c in result] == ["Sales"]
    elif op.name == "conferences.list_participants":
        [participant] = list(result)
        assert isinstance(participant, Participant)
        assert participant.muted is True
        assert participant.conference is not None
        assert participant.conference.id == CONF
    else:
        assert isinstance(result, Conference)
        assert result.status == "in_progress"


def _pages(total: int, size: int) -> httpx.MockTransport:
    rows = [{**CONFERENCE, "id": f"c{i}", "name": f"n{i}"} for i in range(total)]
    total_pages = max(1, -(-total // size))

    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page[number]"])
        chunk = rows[(number - 1) * size : number * size]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": total_pages,
            "total_results": total,
        }
        return httpx.Response(200, json={"data": chunk, "meta": meta})

    return httpx.MockTransport(handler)


def test_iterating_a_list_walks_every_page_lazily() -> None:
    requested: list[str] = []
    inner = _pages(total=7, size=3)

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.params["page[number]"])
        return inner.handle_request(request)

    client = TelnyxClient("KEY", transport=httpx.MockTransport(handler))
    page = client.conferences.list(page={"size": 3})
    assert requested == ["1"]
    rows = iter(page)
    assert [next(rows).id for _ in range(4)] == ["c0", "c1", "c2", "c3"]
    assert requested == ["1", "2"]
    assert [c.id for c in rows] == ["c4", "c5", "c6"]
    assert requested == ["1", "2", "3"]


def test_pages_can_be_walked_one_by_one() -> None:
    client = TelnyxClient("KEY", transport=_pages(total=5, size=2))
    page = client.conferences.list(page={"size": 2})
    numbers = [p.meta.page_number for p in page.iter_pages()]
    assert numbers == [1, 2, 3]
    last = page.next_page().next_page()
    assert not last.has_next_page()
    with pytest.raises(StopIteration):
        last.next_page()


def test_a_lying_total_pages_cannot_loop_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [], "meta": {"page_number": 1, "total_pages": 99}})

    assert (
        list(TelnyxClient("KEY", transport=httpx.MockTransport(handler)).conferences.list()) == []
    )


@pytest.mark.parametrize("page", [{"size": 0}, {"size": 251}, {"number": 0}, {"limit": 5}])
def test_bad_page_parameters_are_refused(page: dict[str, int]) -> None:
    from telnyx_api.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        TelnyxClient("KEY", transport=_pages(1, 1)).conferences.list(page=page)


def test_audio_url_and_media_name_are_exclusive() -> None:
    from telnyx_api.client import EVERYONE
    from telnyx_api.errors import InvalidRequestError

    client = TelnyxClient("KEY", transport=_pages(1, 1))
    with pytest.raises(InvalidRequestError, match="not both"):
        client.conferences.actions.play(
            CONF, call_control_ids=EVERYONE, audio_url="https://a", media_name="m"
        )
    with pytest.raises(InvalidRequestError, match="not both"):
        client.conferences.create(
            call_control_id="v3:x", name="n", hold_audio_url="https://a", hold_media_name="m"
        )
    # Neither is required: the API's spec leaves it to Telnyx, and the SDK pages send neither.


@pytest.mark.parametrize("loop", [0, 101, "forever"])
def test_play_loop_is_bounded(loop: object) -> None:
    from telnyx_api.client import EVERYONE
    from telnyx_api.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        TelnyxClient("KEY", transport=_pages(1, 1)).conferences.actions.play(
            CONF, call_control_ids=EVERYONE, media_name="m", loop=loop
        )


def test_commands_without_command_id_refuse_one() -> None:
    from telnyx_api.client import EVERYONE, supports_command_id
    from telnyx_api.errors import InvalidRequestError

    for action in ("hold", "unhold", "mute", "unmute", "play", "stop"):
        assert not supports_command_id("conference", action)
    with pytest.raises(InvalidRequestError, match="command_id"):
        TelnyxClient("KEY", transport=_pages(1, 1)).conferences.actions.mute(
            CONF, call_control_ids=EVERYONE, command_id="x"
        )
