"""The Procfile's own command lines, started as a platform would, do the job."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner
from testkit.processes import ManagedProcess, procfile, start_web
from tests.conftest import service_env


@pytest.fixture
def web(pipeline_redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner) -> Iterator[str]:
    port = free_port()
    process = start_web(service_env(pipeline_redis_url, api, signer), port)
    yield f"http://127.0.0.1:{port}"
    assert process.stop() == 0


@pytest.mark.usefixtures("worker")
def test_procfile_web_and_worker_turn_webhooks_into_commands(
    web: str, api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given the Procfile's web and worker processes, and a conference
    conference_id = str(uuid.uuid4())
    events = [
        make_event("conference.created", conference_id=conference_id),
        make_event(
            "conference.participant.joined",
            conference_id=conference_id,
            client_state=client_state("Dana"),
        ),
    ]
    # When both webhooks are posted over HTTP, signed
    for event in events:
        body = encode(event)
        response = httpx.post(f"{web}/webhooks/telnyx", content=body, headers=signer.headers(body))
        assert response.status_code == 200
    # Then one record_start and one speak reach the API
    assert api.state.wait_for(
        lambda rs: len([r for r in rs if r.target == conference_id]) >= 2, timeout=20
    )
    mine = [r for r in api.state.commands() if r.target == conference_id]
    assert sorted(r.action or "" for r in mine) == ["record_start", "speak"]
    speak = next(r for r in mine if r.action == "speak")
    assert speak.body["payload"] == "Dana has joined the conference."


def test_the_web_line_reads_chunked_bodies_whole_and_bounds_them(
    web: str, signer: WebhookSigner
) -> None:
    # Given a webhook sent without a declared length, in small chunks
    event = make_event("conference.created")
    body = encode(event)

    def chunks(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    url = f"{web}/webhooks/telnyx"
    response = httpx.post(url, content=chunks(body), headers=signer.headers(body))
    # Then it is read whole, verified and queued
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "queued", "event_id": event["data"]["id"]}
    # And one past the 256 KiB limit is refused as too large, chunked or declared
    large = encode(make_event("conference.created", padding="x" * 300_000))
    for content in (chunks(large), large):
        response = httpx.post(url, content=content, headers=signer.headers(large))
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "request_entity_too_large"


def test_procfile_declares_web_and_worker() -> None:
    entries = procfile()
    # The web's settings (bind on $PORT, worker class, limits) live in gunicorn.conf.py.
    assert entries["web"] == "gunicorn --config gunicorn.conf.py ingest.wsgi:app"
    worker = entries["worker"]
    assert "celery -A workers.app worker" in worker
    # SIGTERM from the platform must start the soft shutdown, and the pool suits I/O.
    assert worker.startswith("REMAP_SIGTERM=SIGQUIT ")
    assert "--pool threads" in worker


@pytest.mark.parametrize(
    ("kind", "missing"), [("worker", "TELNYX_API_KEY"), ("web", "TELNYX_PUBLIC_KEY")]
)
def test_a_missing_variable_stops_the_process_with_its_name(kind: str, missing: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PORT": str(free_port()),
        "TELNYX_API_KEY": "k",
        "TELNYX_PUBLIC_KEY": "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs=",
    }
    del env[missing]
    process = ManagedProcess(kind, procfile()[kind], env)
    assert process.process.wait(timeout=60) != 0
    assert f"{missing} is required" in process.output()


def test_an_invalid_public_key_is_named() -> None:
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port()), "TELNYX_PUBLIC_KEY": "c2hvcnQ="}
    process = ManagedProcess("web", procfile()["web"], env)
    assert process.process.wait(timeout=60) != 0
    assert "TELNYX_PUBLIC_KEY key 1 is 5 bytes, not 32" in process.output()
