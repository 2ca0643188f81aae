from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from core.naming import HANDLE_EVENT, QUEUE, event_task_id
from ingest.app import create_app
from ingest.settings import WebSettings
from records.publishing.publisher import EventPublisher
from sandbox.events import encode, make_event
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner

Sign = Callable[..., dict[str, str]]


def _settings(signer: WebhookSigner, redis_url: str, **overrides: object) -> WebSettings:
    return WebSettings(
        telnyx_public_key=signer.public_key,
        redis_url=redis_url,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def app(signer: WebhookSigner, redis_url: str, redis_client: redis.Redis) -> Flask:
    return create_app(_settings(signer, redis_url))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _queued(redis_client: redis.Redis) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in redis_client.lrange(QUEUE, 0, -1)]


def test_a_signed_event_is_queued_as_a_celery_task(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis
) -> None:
    # Given a signed conference.created delivery
    event = make_event("conference.created", conference_id="conf-1")
    body = encode(event)
    # When Telnyx posts it
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    # Then it is acknowledged only with the event queued, body intact
    assert response.status_code == 200
    assert response.json == {"status": "queued", "event_id": event["data"]["id"]}
    [message] = _queued(redis_client)
    headers = message["headers"]
    assert isinstance(headers, dict)
    assert headers["task"] == HANDLE_EVENT
    assert headers["id"] == event_task_id(event["data"]["id"])
    assert "conf-1" in headers["argsrepr"]
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))  # type: ignore[arg-type]
    assert args == [body.decode()]
    assert kwargs == {}


def test_a_redelivery_is_acknowledged_but_not_queued_again(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis
) -> None:
    event = make_event("conference.created", conference_id="conf-1")
    first = client.post("/webhooks/telnyx", data=encode(event), headers=sign(encode(event)))
    event["meta"] = {"attempt": 2, "delivered_to": "https://example.com"}
    body = encode(event)
    again = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert first.json is not None
    assert first.json["status"] == "queued"
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "event_id": event["data"]["id"]}
    assert len(_queued(redis_client)) == 1


def test_concurrent_deliveries_of_one_event_queue_it_once(
    app: Flask, sign: Sign, redis_client: redis.Redis
) -> None:
    # Given one event delivered 20 times at once
    event = make_event("conference.participant.joined", conference_id="conf-1")
    body = encode(event)
    barrier = threading.Barrier(20)
    statuses: list[str] = []

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
        assert response.json is not None
        statuses.append(response.json["status"])

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every delivery is acknowledged, and exactly one is queued
    assert sorted(statuses) == ["duplicate"] * 19 + ["queued"]
    assert len(_queued(redis_client)) == 1


def test_an_unknown_event_type_is_acknowledged_and_queued(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis
) -> None:
    body = encode(make_event("conference.brand_new_thing", conference_id="c"))
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 200
    assert len(_queued(redis_client)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"telnyx-timestamp": str(int(time.time()))},
        {"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": str(int(time.time()))},
    ],
    ids=["no headers", "no signature", "bad signature"],
)
def test_unsigned_or_badly_signed_gets_401_and_nothing_queued(
    client: FlaskClient, redis_client: redis.Redis, headers: dict[str, str]
) -> None:
    body = encode(make_event("conference.created"))
    response = client.post("/webhooks/telnyx", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"] == "invalid_signature"
    assert _queued(redis_client) == []


def test_a_stale_signature_gets_401(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis
) -> None:
    body = encode(make_event("conference.created"))
    response = client.post(
        "/webhooks/telnyx", data=body, headers=sign(body, int(time.time()) - 301)
    )
    assert response.status_code == 401
    assert response.json == {"error": "invalid_signature", "detail": "timestamp_out_of_tolerance"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"data": {}}',
        b'{"data": {"event_type": "conference.created", "payload": {"conference_id": "c"}}}',
        b'{"data": {"event_type": "conference.created", "id": "e", "payload": {}}}',
        b'{"data": {"event_type": "call.enqueued", "id": "e", "payload": {"queue": ""}}}',
        b'{"data": {"event_type": "conference.created", "id": "e", "payload": {"conference_id": "c"}, "record_type": "call"}}',
        b'{"data": {"event_type": "conference.created", "id": "' + b"x" * 300 + b'", "payload": {"conference_id": "c"}}}',
        b'{"data": {"event_type": [], "id": "e", "payload": {}}}',
        b'{"data": {"event_type": "conference.created", "id": "e", "payload": {"conference_id": "c", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}}}",
        b'{"data": {"event_type": "call.enqueued", "id": "e", "payload": {"queue": "q", "current_position": ' + b"9" * 5000 + b"}}}",
        b'\xff\xfe{"data": 1}',
    ],
    ids=["not json", "array", "empty object", "empty data", "no id", "no conference id",
         "empty queue", "wrong record type", "id too long", "event type not a string",
         "nested too deep", "number too long", "not utf-8"],
)  # fmt: skip
def test_a_signed_body_that_is_not_a_valid_envelope_gets_400(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis, body: bytes
) -> None:
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_payload"
    assert _queued(redis_client) == []


def test_a_validation_error_does_not_echo_the_body(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis
) -> None:
    body = b'{"data": {"event_type": "conference.created", "id": "e", "payload": {"conference_id": 12345678}}}'
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 400
    assert "12345678" not in response.get_data(as_text=True)


def test_a_body_over_the_limit_gets_413_before_verification(
    signer: WebhookSigner, redis_url: str, redis_client: redis.Redis, sign: Sign
) -> None:
    app = create_app(_settings(signer, redis_url, webhook_max_body_bytes=2048))
    event = make_event("conference.created", padding="x" * 4096)
    body = encode(event)
    response = app.test_client().post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 413
    assert response.json is not None
    assert response.json["error"] == "request_entity_too_large"
    assert _queued(redis_client) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_declared_as_something_else_gets_415(
    client: FlaskClient, sign: Sign, redis_client: redis.Redis, content_type: str
) -> None:
    body = encode(make_event("conference.created"))
    response = client.post(
        "/webhooks/telnyx", data=body, headers={**sign(body), "content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json == {
        "error": "unsupported_media_type",
        "detail": "the body must be application/json",
    }
    assert _queued(redis_client) == []


def test_the_default_limit_is_256_kib(signer: WebhookSigner, redis_url: str) -> None:
    assert create_app(_settings(signer, redis_url)).config["MAX_CONTENT_LENGTH"] == 256 * 1024


def test_queue_unreachable_gets_503_quickly(signer: WebhookSigner, sign: Sign) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = _settings(signer, dead)
    app = create_app(settings, EventPublisher.from_settings(settings, timeout_seconds=0.5))
    body = encode(make_event("conference.created"))
    response = app.test_client().post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "queue_unavailable"


def test_without_the_required_replicas_the_answer_is_503_even_for_a_duplicate(
    signer: WebhookSigner, redis_url: str, redis_client: redis.Redis, sign: Sign
) -> None:
    # Given a Redis with no replica, and one required
    body = encode(make_event("conference.created"))
    plain = create_app(_settings(signer, redis_url)).test_client()
    strict = create_app(
        _settings(signer, redis_url, redis_min_replicas=1, redis_replica_timeout_seconds=0.05)
    ).test_client()
    # When the event arrives, it is refused, so Telnyx redelivers it
    response = strict.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "queue_unavailable"
    # and a redelivery is refused too, although the primary already holds the event: a 200
    # for the duplicate would acknowledge what no replica has
    response = strict.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert response.status_code == 503
    # Without the requirement, the same redelivery is a duplicate as before
    response = plain.post("/webhooks/telnyx", data=body, headers=sign(body))
    assert (response.status_code, response.json["status"]) == (200, "duplicate")  # type: ignore[index]


def test_healthz_is_ok(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_reflects_redis(client: FlaskClient, signer: WebhookSigner) -> None:
    assert client.get("/readyz").status_code == 200
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = _settings(signer, dead)
    app = create_app(settings, EventPublisher.from_settings(settings, timeout_seconds=0.5))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "queue_unavailable"


def test_wrong_method_and_unknown_path_are_json_errors(client: FlaskClient) -> None:
    for method in ("GET", "PUT", "HEAD", "OPTIONS"):
        response = client.open("/webhooks/telnyx", method=method)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
    assert client.get("/webhooks/telnyx").json == {
        "error": "method_not_allowed",
        "detail": "webhooks are POSTed",
    }
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json is not None
    assert response.json["error"] == "not_found"


def _call(app: Flask, environ: dict[str, object]) -> tuple[int, dict[str, object]]:
    """The app called as a WSGI server calls it, with an environ the test client cannot
    build (a body without a declared length, or shorter than declared)."""
    app_iter, status, _ = run_wsgi_app(app, environ)
    return int(status.split()[0]), json.loads(b"".join(app_iter))


def _environ(body: bytes, headers: dict[str, str], **overrides: object) -> dict[str, object]:
    environ: dict[str, object] = EnvironBuilder(
        path="/webhooks/telnyx", method="POST", data=body, headers=list(headers.items())
    ).get_environ()
    environ.update(overrides)
    return {k: v for k, v in environ.items() if v is not None}


def test_a_chunked_body_is_read_to_its_end_and_bounded(
    signer: WebhookSigner, redis_url: str, redis_client: redis.Redis, sign: Sign
) -> None:
    # Given an app with a 2 KiB limit, and bodies sent without a declared length (chunked:
    # the server ends the stream where the body ends)
    app = create_app(_settings(signer, redis_url, webhook_max_body_bytes=2048))
    small = encode(make_event("conference.created"))
    large = encode(make_event("conference.created", padding="x" * 4096))

    def chunked(body: bytes) -> dict[str, object]:
        return _environ(
            body,
            sign(body),
            CONTENT_LENGTH=None,
            **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
        )

    # Then one within the limit is queued whole
    status, answer = _call(app, chunked(small))
    assert (status, answer["status"]) == (200, "queued")
    [message] = _queued(redis_client)
    [args, _, _] = json.loads(base64.b64decode(str(message["body"])))
    assert args == [small.decode()]
    # and one past it is refused with 413, and not queued
    status, answer = _call(app, chunked(large))
    assert (status, answer["error"]) == (413, "request_entity_too_large")
    assert len(_queued(redis_client)) == 1


def test_a_body_shorter_than_its_declared_length_gets_400(
    app: Flask, redis_client: redis.Redis, sign: Sign
) -> None:
    # Given a client that declares a length and disconnects before sending all of it
    body = encode(make_event("conference.created"))
    environ = _environ(
        body, sign(body), CONTENT_LENGTH=str(len(body) + 10), **{"wsgi.input": io.BytesIO(body)}
    )
    # Then it is refused, and nothing of it is queued
    status, answer = _call(app, environ)
    assert (status, answer["error"]) == (400, "bad_request")
    assert _queued(redis_client) == []


def test_an_unexpected_error_is_a_json_500_logged_and_counted(
    app: Flask, sign: Sign, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a publisher that fails in a way nobody planned for
    publisher = app.extensions["ingest"].publisher

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("something nobody planned for")

    publisher.publish = broken
    client = app.test_client()
    body = encode(make_event("conference.created"))
    # When a webhook arrives
    response = client.post("/webhooks/telnyx", data=body, headers=sign(body))
    # Then the caller gets a JSON 500 without the details
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_error",
        "detail": "the request could not be processed",
    }
    # which are in the log, with the traceback
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert "something nobody planned for" in str(record.exc_info[1])
    # and the refusal is counted
    page = client.get("/metrics").get_data(as_text=True)
    assert 'telnyx_webhooks_rejected_total{reason="internal_error"} 1' in page
