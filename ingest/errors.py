"""Every error the web process answers is JSON: {"error": "<code>", "detail": "..."}."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class Rejection(Exception):
    """An expected refusal with the status that tells the sender what to do."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"{status} {code}: {detail}")


def error_response(status: int, code: str, detail: str) -> tuple[Response, int]:
    return jsonify(error=code, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Rejection)
    def _api_error(exc: Rejection) -> tuple[Response, int]:
        _count(exc.code)
        return error_response(exc.status, exc.code, exc.detail)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        if status == 413:
            _count(code)
        detail = {413: "the request body is too large"}.get(status, exc.description or "")
        return error_response(status, code, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # The traceback goes to our log, never to the caller.
        log.exception("unhandled error")
        _count("internal_error")
        return error_response(500, "internal_error", "the request could not be processed")


def _count(reason: str) -> None:
    if request.path == "/webhooks/telnyx":
        current_app.extensions["ingest"].publisher.count_rejection(reason)
