"""Redis going away and coming back, seen from the web process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.events import encode, make_event
from sandbox.redis_server import RedisServer
from sandbox.signer import WebhookSigner

Sign = Callable[..., dict[str, str]]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(persistent=True) as server:
        yield server


def test_ingest_answers_503_quickly_while_redis_is_down_and_recovers_by_itself(
    redis_server: RedisServer, signer: WebhookSigner, sign: Sign
) -> None:
    app = create_app(WebSettings(telnyx_public_key=signer.public_key, redis_url=redis_server.url))
    client = app.test_client()

    def post() -> tuple[int, float]:
        body = encode(make_event("conference.created"))
        started = time.monotonic()
        status = client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code
        return status, time.monotonic() - started

    # Given a working pipeline, with a pooled connection to Redis
    assert post()[0] == 200
    # When Redis goes away
    redis_server.stop()
    status, took = post()
    # Then webhooks get 503 (Telnyx redelivers) without hanging, and readiness says so
    assert status == 503
    assert took < 10.0  # bounded by REDIS_TIMEOUT_SECONDS (1 s) and one retry, not a hang
    assert client.get("/readyz").status_code == 503
    # And when Redis is back, the same process accepts again without a restart
    redis_server.start()
    assert post()[0] == 200
    assert client.get("/readyz").status_code == 200
    # (closed here: left to the garbage collector, its sockets would warn in a later test)
    app.extensions["ingest"].publisher.close()
