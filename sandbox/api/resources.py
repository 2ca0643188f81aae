"""The conference and participant objects the server keeps, and how it lists them: filtered by
`filter[field]`, paged by `page[number]` and `page[size]` (20 by default, at most 250).
https://developers.telnyx.com/docs/api/v2/call-control/Conference-Commands
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def conference(name: str, status: str, **fields: Any) -> dict[str, Any]:
    """A new conference object with a fresh id."""
    now = _now()
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "record_type": "conference",
        "status": status,
        "created_at": now,
        "updated_at": now,
        "expires_at": now,
        "region": "US",
        **fields,
    }


def participant(conference_id: str, call_control_id: str, **fields: Any) -> dict[str, Any]:
    """A new participant object: joined, neither muted nor on hold."""
    now = _now()
    return {
        "id": str(uuid.uuid4()),
        "record_type": "participant",
        "call_control_id": call_control_id,
        "call_leg_id": str(uuid.uuid4()),
        "conference": {"id": conference_id},
        "status": "joined",
        "muted": False,
        "on_hold": False,
        "end_conference_on_exit": False,
        "soft_end_conference_on_exit": False,
        "whisper_call_control_ids": [],
        "created_at": now,
        "updated_at": now,
        **fields,
    }


def matches(row: dict[str, Any], query: dict[str, list[str]]) -> bool:
    """Whether the object passes every `filter[field]` of the query (a field it lacks passes)."""
    for key, values in query.items():
        if key.startswith("filter[") and key.endswith("]"):
            name = key[len("filter[") : -1]
            actual = row.get(name)
            wanted = values[-1]
            if isinstance(actual, bool):
                actual = "true" if actual else "false"
            if actual is not None and str(actual) != wanted:
                return False
    return True


def page(rows: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    """The page the query asks for, with its `meta`."""
    number = max(1, int(query.get("page[number]", ["1"])[-1]))
    size = min(250, max(1, int(query.get("page[size]", ["20"])[-1])))
    total_pages = max(1, -(-len(rows) // size))
    chunk = rows[(number - 1) * size : number * size]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": total_pages,
        "total_results": len(rows),
    }
    return {"data": chunk, "meta": meta}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
