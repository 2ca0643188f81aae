"""Fixtures of the integration tests that post to the web app in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from ingest.app import create_app
from ingest.settings import WebSettings
from records.deadletters import DeadLetters
from sandbox.events import encode
from sandbox.signer import WebhookSigner

Post = Callable[[dict[str, Any]], None]


@pytest.fixture
def client(
    signer: WebhookSigner, pipeline_redis_url: str, pipeline_redis: redis.Redis
) -> FlaskClient:
    """The web app in-process, queueing into the database the session's worker consumes."""
    # (With its timeline on, as the session's worker: the timeline tests read the webhooks' entries.)
    settings = WebSettings(
        telnyx_public_key=signer.public_key,
        redis_url=pipeline_redis_url,
        timeline_retention_hours=24,
    )
    return create_app(settings).test_client()


@pytest.fixture
def post(client: FlaskClient, sign: Callable[..., dict[str, str]]) -> Post:
    """Deliver an event to the web app, signed, as Telnyx does; it must be answered 200."""

    def _post(event: dict[str, Any]) -> None:
        body = encode(event)
        response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
        assert response.status_code == 200, response.json

    return _post


@pytest.fixture
def letters(
    pipeline_redis: redis.Redis, pipeline_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> DeadLetters:
    """The dead letters, emptied, as the CLI reads them too (REDIS_URL: the session's Redis)."""
    monkeypatch.setenv("REDIS_URL", pipeline_redis_url)
    store = DeadLetters(pipeline_redis)
    store.purge()
    return store
