"""Baseline web apps for the ingest benchmark, served by the same gunicorn as ours.

gunicorn 'bench.apps:noop_app()'    a POST route that reads the body and answers 200
gunicorn 'bench.apps:naive_app()'   verify, validate, then Celery's send_task per request
"""

from __future__ import annotations

import os

from celery import Celery
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from core.naming import HANDLE_EVENT, QUEUE
from ingest.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookVerifier
from telnyx_api.events import Envelope


def noop_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/telnyx")
    def noop() -> ResponseReturnValue:
        request.get_data()
        return jsonify(status="ok")

    return app


def naive_app() -> Flask:
    """What a first version usually looks like: a Celery producer call per webhook."""
    app = Flask(__name__)
    verifier = WebhookVerifier(os.environ["TELNYX_PUBLIC_KEY"].split(","))
    celery = Celery("naive", broker=os.environ["REDIS_URL"])

    @app.post("/webhooks/telnyx")
    def receive() -> ResponseReturnValue:
        body = request.get_data()
        verifier.verify(
            body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
        )
        event = Envelope.model_validate_json(body).data
        celery.send_task(HANDLE_EVENT, args=[body.decode()], queue=QUEUE)
        return jsonify(status="queued", event_id=event.id)

    return app
