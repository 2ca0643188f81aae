"""Every error the web process answers is JSON: {"error": "<code>", "detail": "..."}."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class Rejection(Exception):
    """An expected refusal with the status that tells the sender what to do."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"{status} {code}: {detail}")


def error_body(code: str, detail: str) -> bytes:
    """The JSON of an error answer (the webhook route's and Flask's alike)."""
    return json.dumps({"error": code, "detail": detail}, separators=(",", ":")).encode()


def http_error(exc: HTTPException) -> tuple[int, str, str]:
    """Status, code and detail of an HTTP error raised by werkzeug or the request deadline."""
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    detail = {413: "the request body is too large"}.get(status, exc.description or "")
    return status, code, detail


def unexpected_error() -> tuple[int, str, str]:
    """Log the exception being handled, with its traceback (which goes to our log, never to
    the caller), and give the 500 the caller gets instead."""
    log.exception("unhandled error")
    return 500, "internal_error", "the request could not be processed"


def error_response(status: int, code: str, detail: str) -> tuple[Response, int]:
    return Response(error_body(code, detail), mimetype="application/json"), status


def register_error_handlers(app: Flask) -> None:
    """For the routes Flask serves (the webhook route answers its own: ingest/webhooks.py)."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        return error_response(*http_error(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        return error_response(*unexpected_error())
