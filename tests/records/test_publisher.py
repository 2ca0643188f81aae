"""The Celery message the web writes straight to Redis (records.messages.celery_message)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from records import messages
from records.messages import celery_message

_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)


def _as_dict(task: str, task_id: str, args: list[Any], argsrepr: str, queue: str,
             eta: datetime | None) -> dict[str, Any]:  # fmt: skip
    """The message as kombu's Redis transport stores a protocol-2 task, built as a dict."""
    body = json.dumps([args, {}, messages._EMBED]).encode()
    return {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            **messages._HEADERS,
            "eta": eta.isoformat() if eta is not None else None,
            # An ETA is by Redis's clock, and says so.
            **({messages.ETA_CLOCK: messages.REDIS_CLOCK} if eta is not None else {}),
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "argsrepr": argsrepr,
        },
        "properties": {
            **messages._PROPERTIES,
            "correlation_id": task_id,
            "delivery_info": {"exchange": "", "routing_key": queue},
        },
    }


@given(
    task=_text,
    task_id=_text,
    args=st.lists(st.one_of(_text, st.integers(), st.none()), max_size=3),
    argsrepr=_text,
    queue=_text,
    eta=st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_the_message_is_the_protocol_2_message_whatever_its_values(
    task: str, task_id: str, args: list[Any], argsrepr: str, queue: str, eta: datetime | None
) -> None:
    before = time.time()
    message = json.loads(celery_message(task, task_id, args, argsrepr, queue, eta))
    sent_at = message["headers"].pop("sent_at")
    tag = message["properties"].pop("delivery_tag")
    expected = _as_dict(task, task_id, args, argsrepr, queue, eta)
    # The body by what it decodes to: base64 of JSON, whatever the JSON's spacing.
    assert json.loads(base64.b64decode(message.pop("body"))) == json.loads(
        base64.b64decode(expected.pop("body"))
    )
    assert message == expected
    assert before - 0.001 <= sent_at <= time.time() + 0.001
    assert len(tag) == 32
    assert int(tag, 16) >= 0


def test_each_message_has_its_own_delivery_tag() -> None:
    tags = {json.loads(celery_message("t", "id", [], "x"))["properties"]["delivery_tag"]
            for _ in range(100)}  # fmt: skip
    assert len(tags) == 100
