"""Liveness, readiness and metrics: what the platform and the operators look at."""

from __future__ import annotations

import hmac

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from records.metrics import redis_down_page
from records.publishing.publisher import QueueUnavailable

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


@health.get("/metrics")
def metrics() -> tuple[Response, int]:
    """Prometheus text format; behind a bearer token when METRICS_TOKEN is set."""
    ingest = current_app.extensions["ingest"]
    token = ingest.settings.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            return jsonify(error="unauthorized", detail="a bearer token is required"), 401
    try:
        page = ingest.publisher.metrics()
    except (redis.RedisError, QueueUnavailable):
        # Still a page (200): Prometheus records that Redis is down, and the alert says so,
        # instead of a failed scrape that looks like this process being down.
        page = redis_down_page()
    return Response(page, mimetype="text/plain; version=0.0.4"), 200
