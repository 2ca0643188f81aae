"""A conference's timeline: what the service did for it, in order, for an operator to read
after an incident (`conference-worker timeline`).

Each entry is one JSON object in a list per conference (`tcw:timeline:<conference id>`),
capped at TIMELINE_MAX_ENTRIES and kept TIMELINE_RETENTION_HOURS after its last entry. Entries
are written by the scripts that already change what they describe, in the same step and only
once that step stands (lib/timeline.lua): the webhook's queue script (queued or duplicate),
the lane's append (planned), pin (merged), drop (moot, expired), settle (sent, moot, dead
letter), hand-off (a failed attempt retried, a wait) and a replay. The stamp `t` is Redis's
clock (ms). Caller data (names, client_state) is kept under `caller` only, which the command
shows only when asked.

An event id or a call control id names its conference for as long (`tcw:timeline:ref:<id>`).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core.naming import KEY_PREFIX
from records.once import done_records

# Entries kept per conference: the oldest go first. A conference of a few hundred joins, each
# with its webhook, plan and outcome, fits.
TIMELINE_MAX_ENTRIES = 2000
DEFAULT_TTL_SECONDS = 24 * 3600
# Bounds on one entry: a text field's characters, a list's items (a merge covers at most
# MAX_MERGED, 500, announcements).
MAX_TEXT = 300
MAX_ITEMS = 500


def timeline_key(conference_id: str) -> str:
    return f"{KEY_PREFIX}timeline:{conference_id}"


def ref_key(any_id: str) -> str:
    """An event id's or a call control id's conference."""
    return f"{KEY_PREFIX}timeline:ref:{any_id}"


def note(kind: str, **fields: Any) -> str:
    """One entry (without its stamp, which the script adds): `kind`, then the fields that are
    not None, each bounded."""
    entry = {"kind": kind, **{k: _bounded(v) for k, v in fields.items() if v is not None}}
    return json.dumps(entry, separators=(",", ":"))


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {str(k)[:MAX_TEXT]: _bounded(v) for k, v in list(value.items())[:MAX_ITEMS]}
    return value


class Timeline:
    """Reads conferences' timelines (the writes are the scripts')."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def resolve(self, any_id: str) -> str | None:
        """The conference `any_id` names: itself when it has a timeline, else the conference
        of the event or call it names; None when none is kept."""
        if self._redis.exists(timeline_key(any_id)):
            return any_id
        found = self._redis.get(ref_key(any_id))
        return found.decode() if isinstance(found, bytes) else found

    def entries(self, conference_id: str) -> list[dict[str, Any]]:
        """The conference's entries, oldest first (by Redis's clock; ties as written)."""
        raws = self._redis.lrange(timeline_key(conference_id), 0, -1)
        entries = [json.loads(raw) for raw in raws]
        return sorted(entries, key=lambda entry: int(entry.get("t", 0)))

    def done_records(self, conference_id: str, action_ids: list[str]) -> dict[str, str]:
        """What the ledger records of each of the conference's actions now ('1' done, 'moot',
        'dead'), if anything."""
        return done_records(self._redis, conference_id, action_ids)
