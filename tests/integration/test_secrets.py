"""The API key never leaves the worker's memory: not in logs, not in Redis, not in Flower's view;
and caller data stays out of what Flower shows."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery
from flask.testing import FlaskClient

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.signer import WebhookSigner
from testkit.harness import wait
from testkit.processes import ManagedProcess
from tests.conftest import API_KEY

pytestmark = pytest.mark.usefixtures("worker")
CALLER = "Secret Caller Name"


@pytest.fixture
def client(signer: WebhookSigner, pipeline_redis_url: str) -> FlaskClient:
    settings = WebSettings(telnyx_public_key=signer.public_key, redis_url=pipeline_redis_url)
    return create_app(settings).test_client()


def _all_redis_bytes(client: redis.Redis) -> bytes:
    chunks: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            chunks.append(client.get(key) or b"")
        elif kind == b"list":
            chunks += client.lrange(key, 0, -1)
        elif kind == b"hash":
            chunks += client.hvals(key)
        elif kind == b"zset":
            chunks += client.zrange(key, 0, -1)
    return b"\n".join(chunks)


def test_the_api_key_is_in_no_log_and_no_redis_value(
    client: FlaskClient,
    sign: Callable[..., dict[str, str]],
    api: FakeTelnyxServer,
    worker: ManagedProcess,
    pipeline_redis: redis.Redis,
) -> None:
    # Given a join whose announcement fails twice (retries) and a create that is refused (401)
    conference_id, refused = str(uuid.uuid4()), str(uuid.uuid4())
    api.state.fail_next(2, 503, path_contains=conference_id)
    api.state.fail_next(1, 401, path_contains=refused)
    joined = make_event(
        "conference.participant.joined",
        conference_id=conference_id,
        client_state=client_state({"name": CALLER}),
    )
    for event in (joined, make_event("conference.created", conference_id=refused)):
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    # When the worker has retried, sent, and dead-lettered
    assert api.state.wait_for(
        lambda rs: any(r.status == 200 and r.target == conference_id for r in rs), timeout=20
    )
    worker.wait_until(lambda: f"{refused} (event" in worker.output(), 20)
    # Then the key is nowhere but in the requests Telnyx received
    assert API_KEY not in worker.output()
    assert API_KEY.encode() not in _all_redis_bytes(pipeline_redis)
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in api.state.requests())
    # And the caller's name is not in the worker's log (Flower's view is checked below)
    assert CALLER not in worker.output()


def test_flower_sees_ids_not_arguments_even_on_retries(
    client: FlaskClient,
    sign: Callable[..., dict[str, str]],
    api: FakeTelnyxServer,
    pipeline_redis_url: str,
) -> None:
    # Given a listener for the task events Flower builds its view from
    events: list[dict[str, Any]] = []
    app = Celery("flower-view", broker=pipeline_redis_url)
    stop = threading.Event()

    def listen() -> None:
        with app.connection() as connection:
            receiver = app.events.Receiver(connection, handlers={"*": events.append})
            while not stop.is_set():
                with contextlib.suppress(TimeoutError, socket.timeout):
                    receiver.capture(limit=None, timeout=0.5, wakeup=False)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # (as Flower does on connecting: switch the workers' task events on; the worker's
    # heartbeats then show the listener is subscribed)
    app.control.enable_events()
    assert wait(lambda: any(e["type"] == "worker-heartbeat" for e in events), 20)
    # When a join is announced after one retry
    conference_id = str(uuid.uuid4())
    api.state.fail_next(1, 503, path_contains=conference_id)
    event = make_event(
        "conference.participant.joined",
        conference_id=conference_id,
        client_state=client_state({"name": CALLER}),
    )
    body = encode(event)
    assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    mine = lambda: [e for e in events if conference_id in str(e.get("args", ""))]  # noqa: E731
    assert wait(
        lambda: (
            sum(e["type"] == "task-retried" or e["type"] == "task-received" for e in mine()) >= 2
        ),
        20,
    )
    stop.set()
    listener.join(10)
    app.close()
    # Then every event Flower would show names ids only
    shown = [str(e.get("args", "")) + str(e.get("kwargs", "")) for e in events]
    assert not [
        text for text in shown if CALLER in text or "client_state" in text or "payload" in text
    ]


def test_argsrepr_of_a_followup_names_ids_only() -> None:
    from tasks.actions import followup_argsrepr

    text = followup_argsrepr("conference", "conf-1", {"event_id": "e-1", "payload": CALLER})
    assert text == "conference=conf-1 event=e-1"
    assert json.dumps(text).count(CALLER) == 0
