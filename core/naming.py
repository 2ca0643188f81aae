"""Names shared by the web process (which publishes) and the workers (which consume).

Task names are explicit and stable, so messages already queued survive a refactor.
"""

from __future__ import annotations

import hashlib
import uuid

QUEUE = "telnyx"
HANDLE_EVENT = "telnyx.handle_event"
# Sends the commands of one conference's lane, one at a time (tasks/drain.py).
LANE_DRAIN = "lane.drain"

# uuid5 namespace for everything we derive from a Telnyx event id.
_NAMESPACE = uuid.UUID("6f1c3f52-3c0e-4a8e-9a58-2f3d9c1b7e41")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """str(uuid.uuid5(_NAMESPACE, name)), without building a UUID object: every webhook and
    every event task derives several of these, and the object is most of uuid5's cost."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def conference_task(action: str) -> str:
    return f"conference.{action}"


def call_task(action: str) -> str:
    return f"call.{action}"


def event_task_id(event_id: str) -> str:
    """The Celery task id of an event: one per Telnyx event, whatever the delivery attempt."""
    return _uuid5(f"event:{event_id}")


def command_id(event_id: str, action_key: str) -> str:
    """The deterministic command_id of one follow-up action of one event.

    A retried or redelivered task sends the same id, so Telnyx ignores the repeat within its
    60-second window.
    """
    return _uuid5(f"command:{event_id}:{action_key}")


def merged_id(action_ids: list[str]) -> str:
    """The id of one command covering several follow-ups (a merged announcement): derived from
    every one of them, in order, so a different composition is a different command, both in
    the ledger and as Telnyx's command_id."""
    return _uuid5("merged:" + "\n".join(action_ids))


def followup_task_id(event_id: str, key: str) -> str:
    """The Celery task id of one follow-up of one event."""
    return _uuid5(f"followup:{event_id}:{key}")


def inline_drain_id(event_id: str) -> str:
    """The drain id an event task takes when it finds its conference's lane idle: derived from
    the event, so that a redelivery of the task (its worker died) finds the lane still waiting
    for it and takes over at once."""
    return _uuid5(f"drain:{event_id}")


# Every key of ours in Redis starts with this, apart from Celery's own queue and kombu's keys.
KEY_PREFIX = "tcw:"


def seen_key(event_id: str) -> str:
    """Marks a Telnyx event as queued, so a redelivery is acknowledged but not queued again."""
    return f"{KEY_PREFIX}seen:{event_id}"
