"""rediss:// (TLS), as hosted Redis add-ons give it: every process connects, and verifies."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from flower.utils.broker import Broker

from core.naming import QUEUE
from core.settings import CommonSettings
from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.redis_server import RedisServer, TlsFiles, free_port
from sandbox.signer import WebhookSigner
from testkit.processes import start_web, start_worker
from tests.conftest import service_env
from workers.config import celery_config


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis that speaks only TLS, with a certificate from a private CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    files = TlsFiles(folder / "cert.pem", folder / "key.pem", folder / "ca.pem")
    ca.cert_pem.write_to_path(str(files.ca_file))
    issued.cert_chain_pems[0].write_to_path(str(files.cert_file))
    issued.private_key_pem.write_to_path(str(files.key_file))
    server = RedisServer(tls=files)
    try:
        server.start()
    except RuntimeError as exc:
        if "built with TLS" in str(exc):
            pytest.skip(f"needs a redis-server with TLS support: {exc}")
        raise
    yield server
    server.close()


def _ca_file(server: RedisServer) -> Path:
    assert server.tls is not None
    return server.tls.ca_file


def test_web_and_worker_processes_work_over_tls(
    tls_redis: RedisServer, api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given the Procfile's web and worker processes on a rediss:// URL, trusting its CA
    env = {**service_env(tls_redis.url, api, signer), "REDIS_TLS_CA_FILE": str(_ca_file(tls_redis))}
    worker = start_worker(env)
    port = free_port()
    web = start_web(env, port)
    try:
        # When a conference is created and joined
        conference_id = str(uuid.uuid4())
        for event in (
            make_event("conference.created", conference_id=conference_id),
            make_event(
                "conference.participant.joined",
                conference_id=conference_id,
                client_state=client_state("Tess"),
            ),
        ):
            body = encode(event)
            response = httpx.post(
                f"http://127.0.0.1:{port}/webhooks/telnyx",
                content=body,
                headers=signer.headers(body),
            )
            assert response.status_code == 200, response.text
        # Then the commands reach the API through the TLS broker and dedupe store
        assert api.state.wait_for(
            lambda rs: len([r for r in rs if r.target == conference_id]) >= 2, timeout=30
        )
        actions = sorted(r.action or "" for r in api.state.commands() if r.target == conference_id)
        assert actions == ["record_start", "speak"]
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        web.stop()
        worker.stop()
    # And the operator command reaches the same Redis
    listed = subprocess.run(
        [sys.executable, "-m", "workers.cli", "dead-letters", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def _ready(settings: WebSettings) -> int:
    return create_app(settings).test_client().get("/readyz").status_code


def test_the_certificate_is_verified_unless_told_not_to(
    tls_redis: RedisServer, signer: WebhookSigner
) -> None:
    common = {"telnyx_public_key": signer.public_key, "redis_url": tls_redis.url}
    # A server whose CA is not trusted is refused: verification is on by default
    assert _ready(WebSettings(**common)) == 503
    # Trusting its CA lets the web process reach it
    assert _ready(WebSettings(**common, redis_tls_ca_file=_ca_file(tls_redis))) == 200
    # Turning verification off (self-signed add-on certificates) connects, still encrypted
    assert _ready(WebSettings(**common, redis_tls_verify=False)) == 200


def test_flowers_broker_view_reads_queue_lengths_over_tls(tls_redis: RedisServer) -> None:
    # Given the monitor's Celery configuration for a rediss:// URL
    settings = CommonSettings(redis_url=tls_redis.url, redis_tls_ca_file=_ca_file(tls_redis))
    config = celery_config(settings.redis_url, redis_tls=settings.redis_tls)
    # When Flower builds its broker view from it, as its queue pages do
    broker = Broker(
        config["broker_url"],
        broker_options=config["broker_transport_options"],
        broker_use_ssl=config["broker_use_ssl"],
    )
    # Then it reads the queue's length over TLS
    [length] = asyncio.run(broker.queues([QUEUE]))
    assert length == {"name": QUEUE, "messages": 0}
