"""POST /webhooks/telnyx: read bounded, verify, validate, queue, then answer.

The route is plain WSGI in front of the Flask app (`create_app` wraps `app.wsgi_app` with it);
every other request goes on to Flask. This is the request on every webhook's path, and
Flask's handling of a request (its contexts, routing, request and response objects, signals)
cost it more than verifying the signature does (docs/benchmarks.md, "Ingest"). Errors are
JSON in the same shape as Flask's handlers answer (ingest/errors.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from pydantic import ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from core.logs import log_context
from ingest.errors import Rejection, error_body, http_error, unexpected_error
from ingest.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    WebhookVerifier,
)
from records.publishing.publisher import EventPublisher, QueueUnavailable
from records.timeline import note
from telnyx_api.events import Envelope, Event

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

PATH = "/webhooks/telnyx"


def _environ_name(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


# The WSGI names of the headers Telnyx signs with.
_SIGNATURE = _environ_name(SIGNATURE_HEADER)
_TIMESTAMP = _environ_name(TIMESTAMP_HEADER)


class WebhookRoute:
    """WSGI middleware: answers `PATH` itself and hands every other request to `rest`."""

    def __init__(
        self,
        rest: WSGIApplication,
        verifier: WebhookVerifier,
        publisher: EventPublisher,
        max_body_bytes: int,
    ) -> None:
        self._rest = rest
        self._verifier = verifier
        self._publisher = publisher
        self._max_body = max_body_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._rest(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            answer = error_body("method_not_allowed", "webhooks are POSTed")
            return _answer(start_response, 405, answer, ("Allow", "POST"))
        try:
            status, answer = 200, self._receive(environ)
        except Rejection as exc:
            self._publisher.count_rejection(exc.code)
            status, answer = exc.status, error_body(exc.code, exc.detail)
        except HTTPException as exc:
            # Raised while reading the body: over the size limit (413, counted), cut short
            # (400), or the request deadline of gunicorn.conf.py (408).
            status, code, detail = http_error(exc)
            if status == 413:
                self._publisher.count_rejection(code)
            answer = error_body(code, detail)
        except Exception:  # noqa: BLE001 - unexpected_error logs it with its traceback
            status, code, detail = unexpected_error()
            self._publisher.count_rejection(code)
            answer = error_body(code, detail)
        return _answer(start_response, status, answer)

    def _receive(self, environ: WSGIEnvironment) -> bytes:
        """The answer to a webhook queued (or a duplicate); raises what is answered otherwise."""
        _require_json_content_type(environ.get("CONTENT_TYPE", ""))
        # Raw bytes, bounded (413 past the limit, before any of it is read when the length
        # is declared); nothing is parsed before the signature is checked.
        body = self._read_body(environ)
        try:
            self._verifier.verify(body, environ.get(_SIGNATURE), environ.get(_TIMESTAMP))
        except SignatureError as exc:
            log.warning("webhook rejected: %s", exc.reason)
            raise Rejection(401, "invalid_signature", exc.reason) from exc
        event, text = _parse(body)
        with log_context(
            event_id=event.id, event_type=event.event_type, conference_id=event.conference_id
        ):
            return self._queue(event, text)

    def _read_body(self, environ: WSGIEnvironment) -> bytes:
        """The whole body; 413 past the limit (before reading any of it, when the length is
        declared), 400 when the client stops short of the length it declared."""
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH")
        if declared and declared.isascii() and declared.isdigit():
            length = int(declared)
            if length > self._max_body:
                raise RequestEntityTooLarge()
            body = bytes(stream.read(length))
            if len(body) != length:
                raise ClientDisconnected()
            return body
        if not environ.get("wsgi.input_terminated"):
            return b""  # no length, and a stream that may never end: no body (as werkzeug)
        # Chunked: the server ends the stream with the body. Read one byte past the limit,
        # so a body over it is refused as too large (not cut at the limit and then refused
        # as badly signed).
        chunks: list[bytes] = []
        size = 0
        while size <= self._max_body:
            chunk = stream.read(self._max_body + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > self._max_body:
            raise RequestEntityTooLarge()
        return b"".join(chunks)

    def _queue(self, event: Event, text: str) -> bytes:
        try:
            # The body is queued as received: one JSON parse here, one in the worker, and the
            # worker sees every field Telnyx sent, known to this version or not.
            call = _call_control_id(event)
            # (Only a conference's event has a timeline to go on.)
            note = webhook_note(event, call) if event.conference_id else ""
            queued = self._publisher.publish(
                text, event.id, event.event_type, event.conference_id,
                note=note, call_control_id=call,
            )  # fmt: skip
        except QueueUnavailable as exc:
            # Redis's errors name host and port, never a password.
            log.error(
                "queue unavailable (%s); answering 503 so Telnyx redelivers event %s",
                exc,
                event.id,
            )
            raise Rejection(503, "queue_unavailable", "the event could not be queued") from exc
        # A redelivery of an event already queued is acknowledged, so Telnyx stops sending it.
        status = "queued" if queued else "duplicate"
        # A queued event's outcome is the worker's line, with the same ids; the platform's
        # router (or gunicorn's access log) has the request. A duplicate's outcome is this line.
        log.log(logging.DEBUG if queued else logging.INFO, "%s %s %s", status, event.event_type,
                event.id)  # fmt: skip
        return f'{{"status":"{status}","event_id":{json.dumps(event.id)}}}'.encode()


def webhook_note(event: Event, call_control_id: str | None) -> str:
    """The event's entry on its conference's timeline (records/timeline.py): the script adds
    when it was received (Redis's clock) and whether it was queued or a duplicate. Caller data
    (client_state, which carries names) only under `caller`."""
    payload = getattr(event, "payload", None)
    client_state = getattr(payload, "client_state", None)
    return note(
        "webhook", type=event.event_type, event_id=event.id,
        occurred_at=event.when.isoformat() if event.when else None,
        call_control_id=call_control_id,
        caller={"client_state": client_state} if client_state else None,
    )  # fmt: skip


def _call_control_id(event: Event) -> str | None:
    found = getattr(getattr(event, "payload", None), "call_control_id", None)
    return found if isinstance(found, str) else None


def _answer(
    start_response: StartResponse, status: int, body: bytes, *headers: tuple[str, str]
) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


def _require_json_content_type(content_type: str) -> None:
    """Telnyx sends application/json; anything declared otherwise is not a Telnyx webhook."""
    mimetype = content_type.partition(";")[0].strip().lower()
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
