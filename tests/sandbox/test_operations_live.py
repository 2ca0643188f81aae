"""Every operation against the local Telnyx-compatible server, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.api.http import FakeTelnyxServer
from telnyx_api.client import TelnyxClient
from tests.conftest import API_KEY
from tests.telnyx_api.operations import CONF, OPERATIONS, Operation


@pytest.fixture
def client(api: FakeTelnyxServer) -> Iterator[TelnyxClient]:
    with TelnyxClient(API_KEY, base_url=api.base_url, timeout=5) as client:
        yield client


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_operation_is_accepted_by_the_local_server(
    op: Operation, api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    api.state.add_conference("Existing", status="in_progress", id=CONF)
    op.call(client)
    [request] = api.state.requests()
    assert 200 <= request.status < 300
    assert request.method == op.method
    assert request.path == op.path
    if op.method == "POST":
        assert request.body == op.body


def test_pagination_over_real_http(api: FakeTelnyxServer, client: TelnyxClient) -> None:
    for i in range(7):
        api.state.add_conference(f"room-{i}", status="in_progress" if i % 2 else "completed")
    live = client.conferences.list(filter={"status": "in_progress"}, page={"size": 2})
    assert sorted(c.name for c in live) == ["room-1", "room-3", "room-5"]
    assert [r.query["page[number]"] for r in api.state.requests()] == [["1"], ["2"]]


def test_participants_filter(api: FakeTelnyxServer, client: TelnyxClient) -> None:
    api.state.add_participant(CONF, "v3:a", muted=True)
    api.state.add_participant(CONF, "v3:b", muted=False)
    muted = list(client.conferences.list_participants(CONF, filter={"muted": True}))
    assert [p.call_control_id for p in muted] == ["v3:a"]


def test_create_then_retrieve(client: TelnyxClient) -> None:
    created = client.conferences.create(call_control_id="v3:host", name="Standup")
    assert client.conferences.retrieve(created.id).name == "Standup"
    [host] = list(client.conferences.list_participants(created.id))
    assert host.call_control_id == "v3:host"
