"""Property-based tests: whatever arrives, the verifier, the parser and the route answer with a
clear refusal or an acceptance, never a 5xx, and nothing unverified reaches the queue."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.naming import QUEUE
from ingest.app import create_app
from ingest.settings import WebSettings
from ingest.signature import SignatureError, WebhookVerifier
from sandbox.events import make_event
from sandbox.signer import WebhookSigner
from telnyx_api.events import EVENT_TYPES, Envelope

SIGNER = WebhookSigner(bytes(range(32)))
FUZZ = settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=30,
)
event_types = st.sampled_from([*EVENT_TYPES, "call.left_queue", "conference.unknown", ""])


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly Telnyx-shaped envelopes, with fields added, dropped or given the wrong type."""
    event = make_event(draw(event_types))
    data = event["data"]
    payload = data["payload"]
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from([event, data, payload]))
        action = draw(st.sampled_from(["add", "drop", "retype"]))
        key = draw(st.sampled_from([*target.keys(), draw(st.text(max_size=10))]))
        if action == "drop":
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    return event


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["envelope", "envelope", "json", "bytes", "deep", "big"]))
    if kind == "envelope":
        return json.dumps(draw(envelopes())).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(100, 5000))
        return b'{"data":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "big":
        return b'{"data": {"id": "' + b"x" * draw(st.integers(200_000, 400_000)) + b'"}}'
    return draw(st.binary(max_size=500))


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]
    signed: bool  # carries a valid, fresh signature of this body


@st.composite
def requests(draw: st.DrawFn) -> Request:
    body = draw(bodies())
    how = draw(st.sampled_from(["signed", "signed", "stale", "forged", "garbage", "none"]))
    now = int(time.time())
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/plain",
                "",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    headers = {"content-type": content_type} if content_type else {}
    if how in ("signed", "stale"):
        headers |= {
            k: v
            for k, v in SIGNER.headers(body, now if how == "signed" else now - 400).items()
            if k != "content-type"
        }
    elif how == "forged":
        headers |= {
            k: v for k, v in SIGNER.headers(body + b"!", now).items() if k != "content-type"
        }
    elif how == "garbage":
        headers["telnyx-signature-ed25519"] = draw(
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
        )
        headers["telnyx-timestamp"] = draw(
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
        )
    return Request(body, headers, signed=how == "signed")


@pytest.fixture
def app(redis_url: str, redis_client: redis.Redis) -> Flask:
    return create_app(WebSettings(telnyx_public_key=SIGNER.public_key, redis_url=redis_url))


@FUZZ
@given(case=requests())
def test_the_route_never_fails_and_never_queues_the_unverified(
    app: Flask, redis_client: redis.Redis, case: Request
) -> None:
    before = redis_client.llen(QUEUE)
    response = app.test_client().post("/webhooks/telnyx", data=case.body, headers=case.headers)
    queued = redis_client.llen(QUEUE) - before
    assert response.status_code in (200, 400, 401, 413, 415), response.get_data()
    assert response.is_json
    body = response.get_json()
    if response.status_code != 200:
        assert set(body) == {"error", "detail"}
        assert queued == 0
    if not case.signed:
        assert response.status_code != 200
        assert queued == 0
    if queued:
        assert body["status"] == "queued"
        assert queued == 1


@settings(max_examples=2000, deadline=None)
@given(
    body=st.binary(max_size=300),
    signature=st.text(max_size=150) | st.none(),
    timestamp=st.text(max_size=30) | st.none(),
)
def test_the_verifier_only_ever_raises_signature_error(
    body: bytes, signature: str | None, timestamp: str | None
) -> None:
    verifier = WebhookVerifier([SIGNER.public_key])
    with pytest.raises(SignatureError):
        verifier.verify(body, signature, timestamp)


@settings(max_examples=2000, deadline=None)
@given(body=bodies())
def test_the_envelope_parser_only_ever_raises_validation_error(body: bytes) -> None:
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError:
        return
    assert envelope.data.id
