"""Flower, started from the Procfile, shows our tasks with ids, behind basic auth."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.api_server import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.harness import wait
from sandbox.processes import ManagedProcess, procfile
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner
from workers.flower import auth_problem

pytestmark = pytest.mark.usefixtures("worker")
AUTH = ("ops", "flower-secret-1")


@pytest.fixture(scope="module")
def flower(pipeline_redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": pipeline_redis_url,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
    }
    env.pop("TELNYX_API_KEY", None)  # the monitor runs without the API key
    process = ManagedProcess("flower", procfile()["flower"], env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    process.wait_until(up, 60)
    yield url
    process.stop()


def test_flower_lists_our_tasks_by_name_with_ids_only(
    flower: str,
    signer: WebhookSigner,
    pipeline_redis_url: str,
    api: FakeTelnyxServer,
    sign: Callable[..., dict[str, str]],
) -> None:
    # Given Flower watching, and a conference joined by a named caller
    conference_id = str(uuid.uuid4())
    app = create_app(WebSettings(telnyx_public_key=signer.public_key, redis_url=pipeline_redis_url))
    client = app.test_client()
    secret_name = "Caller Whose Name Stays Out"

    def tasks() -> dict[str, Any]:
        response = httpx.get(f"{flower}/api/tasks", params={"limit": 500}, auth=AUTH, timeout=5)
        response.raise_for_status()
        return dict(response.json())

    # (Flower switches the workers' task events on when it connects; wait until they flow)
    def events_flowing() -> bool:
        body = encode(make_event("conference.ended", conference_id=str(uuid.uuid4())))
        client.post("/webhooks/telnyx", data=body, headers=sign(body))
        return any(t.get("name") == "telnyx.handle_event" for t in tasks().values())

    assert wait(events_flowing, 30)
    for event in (
        make_event("conference.created", conference_id=conference_id),
        make_event(
            "conference.participant.joined",
            conference_id=conference_id,
            client_state=client_state({"name": secret_name}),
        ),
    ):
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    # Then Flower lists the conference's tasks with its id, and what they sent by name (the
    # event task that finds its lane idle sends at once; a lane.drain task carries on)...
    mine = lambda: [t for t in tasks().values() if conference_id in str(t.get("args"))]  # noqa: E731

    def sent() -> str:
        return " ".join(str(t.get("result")) for t in mine() if t.get("state") == "SUCCESS")

    assert wait(lambda: "conference.record_start" in sent() and "conference.speak" in sent(), 30)
    for task in mine():
        if task["name"] == "lane.drain":
            assert str(task["args"]) in (f"conference={conference_id}", f"('{conference_id}',)")
        else:
            assert task["name"] == "telnyx.handle_event"
            assert str(task["args"]).endswith(f"conference={conference_id}")
        # ...and never the spoken text or the caller's data
        assert secret_name not in str(task)
        assert "client_state" not in str(task)


def test_flower_refuses_requests_without_credentials(flower: str) -> None:
    assert httpx.get(f"{flower}/api/tasks", timeout=5).status_code == 401
    assert (
        httpx.get(f"{flower}/api/tasks", auth=("ops", "wrong-password"), timeout=5).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ops:longenough", True),
        ("a:longenough,b:alsolonger", True),
        ("", False),
        ("ops", False),
        ("ops:short", False),
        (":longenough", False),
    ],
)
def test_basic_auth_is_required_and_checked(value: str, ok: bool) -> None:
    assert (auth_problem(value) is None) is ok


def test_flower_will_not_start_without_auth(pipeline_redis_url: str) -> None:
    env = {"PATH": os.environ["PATH"], "REDIS_URL": pipeline_redis_url, "PORT": str(free_port())}
    process = ManagedProcess("flower", procfile()["flower"], env)
    assert process.process.wait(timeout=30) == 2
    assert "FLOWER_BASIC_AUTH is required" in process.output()


def test_flower_started_before_any_worker_knows_our_tasks_and_warns_of_nothing(
    redis_url: str,
) -> None:
    # Given Flower started as a Procfile start does, with no worker up yet (database 0 has none)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
    }
    env.pop("TELNYX_API_KEY", None)
    process = ManagedProcess("flower", procfile()["flower"], env)
    try:
        # When it has asked the workers about themselves, and nobody answered
        process.wait_until(lambda: "no worker answered yet" in process.output(), 60)
        output = process.output()
    finally:
        process.stop()
    # Then it says so plainly, lists the project's tasks, and warns of nothing
    assert "Registered tasks" in output
    for name in (
        "telnyx.handle_event",
        "lane.drain",
        "conference.record_start",
        "conference.speak",
    ):
        assert name in output
    assert "Inspect method" not in output
    assert "WARNING" not in output
    assert "ERROR" not in output
