"""Realistic Telnyx webhook bodies, built the way Telnyx shapes each event type."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

# Event types whose occurred_at sits in data.payload rather than data.
_OCCURRED_IN_PAYLOAD = {
    "conference.created",
    "conference.ended",
    "conference.floor.changed",
    "conference.participant.playback.started",
    "conference.participant.playback.ended",
    "conference.participant.speak.started",
    "conference.participant.speak.ended",
    "conference.playback.started",
    "conference.playback.ended",
    "conference.speak.started",
    "conference.speak.ended",
}


def client_state(value: dict[str, Any] | str) -> str:
    """base64 of JSON (for a dict) or of plain text, as applications put it in client_state."""
    raw = json.dumps(value) if isinstance(value, dict) else value
    return base64.b64encode(raw.encode()).decode()


def call_control_id() -> str:
    return "v3:" + base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")


def make_event(
    event_type: str,
    *,
    conference_id: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    attempt: int = 1,
    **payload: Any,
) -> dict[str, Any]:
    """A whole delivery: {"data": {...}, "meta": {...}}, with plausible ids filled in."""
    when = (occurred_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    body: dict[str, Any] = {
        "call_control_id": call_control_id(),
        "call_leg_id": str(uuid.uuid4()),
        "call_session_id": str(uuid.uuid4()),
        "connection_id": "1494404757140276705",
    }
    if event_type.startswith("conference."):
        body["conference_id"] = conference_id or str(uuid.uuid4())
    if event_type == "call.enqueued":
        body.update(queue="support", current_position=1)
    if event_type in ("call.dequeued", "call.left_queue"):
        body.update(queue="support", queue_position=1, reason="bridged", wait_time_secs=12)
    body.update(payload)
    data: dict[str, Any] = {
        "record_type": "event",
        "event_type": event_type,
        "id": event_id or str(uuid.uuid4()),
        "payload": body,
    }
    if event_type in _OCCURRED_IN_PAYLOAD:
        body.setdefault("occurred_at", when)
    else:
        data["occurred_at"] = when
    return {
        "data": data,
        "meta": {"attempt": attempt, "delivered_to": "https://example.com/webhooks/telnyx"},
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
