from __future__ import annotations

from collections.abc import Callable

import redis

from ingest.app import create_app
from ingest.settings import WebSettings
from sandbox.events import encode, make_event
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
    page = client.get("/metrics").get_data(as_text=True)
    assert "telnyx_webhooks_enqueued_total 1" in page
    assert "telnyx_webhooks_duplicate_total 1" in page
    assert 'telnyx_webhooks_rejected_total{reason="invalid_signature"} 1' in page
    assert 'telnyx_webhooks_rejected_total{reason="invalid_payload"} 1' in page
    assert "telnyx_webhooks_received_total 4" in page
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
