"""Liveness and readiness for the platform's health checks."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process is up and serving."""
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready only when Redis answers: without it no webhook can be accepted."""
    if current_app.extensions["ingest"].publisher.ping():
        return jsonify(status="ready"), 200
    return jsonify(error="queue_unavailable", detail="Redis is not reachable"), 503
