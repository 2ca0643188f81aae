from __future__ import annotations

import json
import re
from collections.abc import Callable

import redis

from core.naming import QUEUE
from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.events import encode, make_event
from sandbox.redis_server import RedisServer
from sandbox.signer import WebhookSigner


def test_metrics_count_what_ingest_did(
    signer: WebhookSigner,
    redis_url: str,
    redis_client: redis.Redis,
    sign: Callable[..., dict[str, str]],
) -> None:
    client = create_app(
        WebSettings(telnyx_public_key=signer.public_key, redis_url=redis_url)
    ).test_client()
    event = make_event("conference.created")
    body = encode(event)
    client.post("/webhooks/telnyx", data=body, headers=sign(body))  # queued
    client.post("/webhooks/telnyx", data=body, headers=sign(body))  # duplicate
    client.post("/webhooks/telnyx", data=body, headers={})  # 401
    client.post("/webhooks/telnyx", data=b"{}", headers=sign(b"{}"))  # 400
    client.post("/webhooks/telnyx", data=body, headers={**sign(body), "content-type": "text/plain"})
    client.post("/webhooks/telnyx", data=b"{" * (256 * 1024 + 1), headers=sign(body))  # 413
    page = client.get("/metrics").get_data(as_text=True)
    assert "telnyx_webhooks_enqueued_total 1" in page
    assert "telnyx_webhooks_duplicate_total 1" in page
    assert 'telnyx_webhooks_rejected_total{reason="invalid_signature"} 1' in page
    assert 'telnyx_webhooks_rejected_total{reason="invalid_payload"} 1' in page
    assert 'telnyx_webhooks_rejected_total{reason="unsupported_media_type"} 1' in page
    assert 'telnyx_webhooks_rejected_total{reason="request_entity_too_large"} 1' in page
    assert "telnyx_webhooks_received_total 6" in page
    assert "telnyx_queue_depth 1" in page


def test_metrics_want_the_bearer_token_when_one_is_set(
    signer: WebhookSigner, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = WebSettings(
        telnyx_public_key=signer.public_key, redis_url=redis_url, metrics_token="s3cret-token"
    )  # type: ignore[arg-type]
    client = create_app(settings).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_the_queue_age_is_how_long_the_oldest_message_has_waited(
    signer: WebhookSigner,
    redis_url: str,
    redis_client: redis.Redis,
    sign: Callable[..., dict[str, str]],
) -> None:
    client = create_app(
        WebSettings(telnyx_public_key=signer.public_key, redis_url=redis_url)
    ).test_client()
    assert "telnyx_queue_age_seconds 0\n" in client.get("/metrics").get_data(as_text=True)
    # Given two events queued, the first of them (the oldest) 90 s ago
    for _ in range(2):
        body = encode(make_event("conference.created"))
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
    oldest = json.loads(redis_client.lindex(QUEUE, -1))
    oldest["headers"]["sent_at"] -= 90
    redis_client.lset(QUEUE, -1, json.dumps(oldest))
    # Then /metrics says the queue's oldest message has waited that long
    page = client.get("/metrics").get_data(as_text=True)
    [age] = re.findall(r"^telnyx_queue_age_seconds ([0-9.]+)$", page, re.M)
    assert 90 <= float(age) < 100
    assert "telnyx_queue_depth 2" in page
    assert "telnyx_redis_up 1" in page


def test_with_redis_down_the_page_says_so_and_the_503s_are_counted_once_it_is_back(
    signer: WebhookSigner, sign: Callable[..., dict[str, str]]
) -> None:
    with RedisServer() as server:
        client = create_app(
            WebSettings(telnyx_public_key=signer.public_key, redis_url=server.url)
        ).test_client()
        server.stop()
        # While Redis is down: webhooks are answered 503, and the page says Redis is down
        body = encode(make_event("conference.created"))
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 503
        down = client.get("/metrics")
        assert down.status_code == 200
        assert down.get_data(as_text=True).endswith("telnyx_redis_up 0\n")
        # Once it is back, the 503 shows among the refusals
        server.start()
        page = client.get("/metrics").get_data(as_text=True)
        assert "telnyx_redis_up 1" in page
        assert 'telnyx_webhooks_rejected_total{reason="queue_unavailable"} 1' in page
