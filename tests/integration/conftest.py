"""Fixtures of the integration tests that post to the web app in-process."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.signer import WebhookSigner


@pytest.fixture
def client(
    signer: WebhookSigner, pipeline_redis_url: str, pipeline_redis: redis.Redis
) -> FlaskClient:
    """The web app in-process, queueing into the database the session's worker consumes."""
    settings = WebSettings(telnyx_public_key=signer.public_key, redis_url=pipeline_redis_url)
    return create_app(settings).test_client()
