"""POST /webhooks/telnyx: read bounded, verify, validate, queue, then answer."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from pydantic import ValidationError

from core.logs import log_context
from ingest.errors import Rejection
from ingest.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError
from records.publisher import QueueUnavailable
from telnyx_api.events import Envelope, Event

log = logging.getLogger(__name__)
webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks/telnyx")
def receive() -> tuple[Response, int]:
    ingest = current_app.extensions["ingest"]
    _require_json_content_type()
    # Raw bytes, bounded by MAX_CONTENT_LENGTH (413 past it); never request.json before
    # the signature is checked.
    body = request.get_data(cache=False)
    try:
        ingest.verifier.verify(
            body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
        )
    except SignatureError as exc:
        log.warning("webhook rejected: %s", exc.reason)
        raise Rejection(401, "invalid_signature", exc.reason) from exc
    event, text = _parse(body)
    with log_context(
        event_id=event.id, event_type=event.event_type, conference_id=event.conference_id
    ):
        return _queue(ingest, event, text)


def _queue(ingest: Any, event: Event, text: str) -> tuple[Response, int]:
    try:
        # The body is queued as received: one JSON parse here, one in the worker, and the
        # worker sees every field Telnyx sent, known to this version or not.
        queued = ingest.publisher.publish(text, event.id, event.event_type, event.conference_id)
    except QueueUnavailable as exc:
        # Redis's errors name host and port, never a password.
        log.error(
            "queue unavailable (%s); answering 503 so Telnyx redelivers event %s", exc, event.id
        )
        raise Rejection(503, "queue_unavailable", "the event could not be queued") from exc
    # A redelivery of an event already queued is acknowledged, so Telnyx stops sending it.
    status = "queued" if queued else "duplicate"
    # A queued event's outcome is the worker's line, with the same ids; the platform's router
    # (or gunicorn's access log) has the request. A duplicate's outcome is this line.
    log.log(logging.DEBUG if queued else logging.INFO, "%s %s %s", status, event.event_type,
            event.id)  # fmt: skip
    # Built by hand: this answer is on every webhook's path, and jsonify is not cheap.
    answer = f'{{"status":"{status}","event_id":{json.dumps(event.id)}}}'
    return Response(answer, mimetype="application/json"), 200


def _require_json_content_type() -> None:
    """Telnyx sends application/json; anything declared otherwise is not a Telnyx webhook."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Rejection(415, "unsupported_media_type", "the body must be application/json")


def _parse(body: bytes) -> tuple[Event, str]:
    """The event, and the body as text for the queue."""
    try:
        envelope = Envelope.model_validate_json(body)
        text = body.decode("utf-8")  # valid JSON is valid UTF-8, but the queue must never get less
    except UnicodeDecodeError as exc:
        raise Rejection(400, "invalid_payload", "the body is not UTF-8") from exc
    except ValidationError as exc:
        raise Rejection(400, "invalid_payload", _summary(exc)) from exc
    return envelope.data, text


def _summary(exc: ValidationError) -> str:
    """Where the body is wrong, without echoing any of its values."""
    parts = []
    for error in exc.errors(include_input=False)[:5]:
        where = ".".join(str(loc) for loc in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)[:500]
