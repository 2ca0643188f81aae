"""The web process: create_app() wires settings, the verifier and the publisher into Flask."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from core.settings import load_settings
from ingest.errors import register_error_handlers
from ingest.health import health
from ingest.settings import WebSettings
from ingest.signature import WebhookVerifier
from ingest.webhooks import WebhookRoute
from records.publishing.publisher import EventPublisher


@dataclass(frozen=True)
class Ingest:
    """What the request handlers need, built once per process."""

    settings: WebSettings
    verifier: WebhookVerifier
    publisher: EventPublisher


def create_app(
    settings: WebSettings | None = None, publisher: EventPublisher | None = None
) -> Flask:
    settings = settings or load_settings(WebSettings)
    app = Flask(__name__)
    # Every request's body is bounded: 413 past this, before it is read whole.
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    extension = Ingest(
        settings=settings,
        verifier=WebhookVerifier(settings.public_keys, settings.webhook_tolerance_seconds),
        publisher=publisher
        or EventPublisher.from_settings(
            settings,
            settings.redis_timeout_seconds,
            settings.webhook_dedupe_ttl_seconds,
            settings.web_redis_connections,
        ),
    )
    app.extensions["ingest"] = extension
    app.register_blueprint(health)
    register_error_handlers(app)
    # The webhook route, in front of Flask (ingest/webhooks.py says why).
    app.wsgi_app = WebhookRoute(  # type: ignore[method-assign]
        app.wsgi_app,
        extension.verifier,
        extension.publisher,
        settings.webhook_max_body_bytes,
    )
    return app


def ingest() -> Ingest:
    extension: Ingest = current_app.extensions["ingest"]
    return extension
