"""What exactly-once keeps of each conference: its events seen and its actions done, as fields
of the conference's lane hash (`tcw:lane:<conference id>`), not as keys of their own.

A key costs Redis about 100 bytes before its value (its name, its entries in the keyspace and
the expiry tables); a field of a small hash, kept as a listpack, costs its bytes and two. So
each record is one field, named by 8 bytes of the SHA-1 of the key it would have of its own
(`tcw:seen:<event id>`, `tcw:done:<action id>`: the prefix keeps the two kinds apart), with
the first bit set, which no state field's name (ASCII: `first`, `drain`, `left:<id>`...) has;
the lane's take leaves these fields out of the lane it reads (lib/take_lane.lua). The scripts
derive a field from that key's name (lib/once.lua), so they are given the keys as before.
The value of a seen record is `s`; of a done record, as before, `1` (sent), `moot` or `dead`.

Collision odds: a record is mistaken for another only when two records of one conference have
the same 63 bits. With n records in a conference, the chance that any two collide is at most
n^2 / 2^64: 5e-14 for a conference of 1,000 events (2,000 records with their actions); a
billion such conferences, 5e-5. A collision makes one event or action look already seen or
done: it is skipped, never sent twice.

The hash expires as the conference's records allow: every write extends its expiry to at
least that record's own retention from now (lib/once.lua), so no record lives shorter than its
setting says, and the whole hash goes that long after the conference's last event.

Records written before this layout (`tcw:seen:<event id>`, `tcw:done:<action id>`, keys of
their own) are still read, so that an event or action seen or done before an upgrade stays so;
they are no longer written, and expire by themselves within their retention.
"""

from __future__ import annotations

import hashlib

import redis

from core.naming import KEY_PREFIX, seen_key

# A digest's first bit: set in every record's field, in no state field's name.
_RECORD_BIT = 0x80


def lane_key(conference_id: str) -> str:
    """The conference's lane hash: its lane's state and its exactly-once records."""
    return f"{KEY_PREFIX}lane:{conference_id}"


def record_field(key: str) -> bytes:
    """The field, in a conference's lane hash, of the record that would be the key `key` of its
    own (lib/once.lua's field_of)."""
    digest = bytearray(hashlib.sha1(key.encode()).digest()[:8])  # noqa: S324 - a digest of ids, not a secret
    digest[0] |= _RECORD_BIT
    return bytes(digest)


def seen_field(event_id: str) -> bytes:
    """The field that records an event as queued, in its conference's lane hash."""
    return record_field(seen_key(event_id))


def done_field(action_id: str) -> bytes:
    """The field that records an action as done (or moot, or dead), in its conference's hash."""
    return record_field(done_key(action_id))


def done_record(client: redis.Redis, conference_id: str, action_id: str) -> str | None:
    """What the ledger records of a conference's action ('1' done, 'moot', 'dead'), if anything
    (a record written before this layout included)."""
    found = done_records(client, conference_id, [action_id])
    return found.get(action_id)


def done_records(client: redis.Redis, conference_id: str, action_ids: list[str]) -> dict[str, str]:
    """done_record for several actions of one conference, in one round trip."""
    if not action_ids:
        return {}
    with client.pipeline(transaction=False) as pipe:
        pipe.hmget(lane_key(conference_id), [done_field(i) for i in action_ids])
        pipe.mget([done_key(i) for i in action_ids])
        fields, keys = pipe.execute()
    return {
        action_id: (field if field is not None else key).decode()
        for action_id, field, key in zip(action_ids, fields, keys, strict=True)
        if field is not None or key is not None
    }


def done_key(action_id: str) -> str:
    """An action's done record as a key of its own: a call task's (it has no conference), and
    a conference's written before its records became fields of its hash."""
    return f"{KEY_PREFIX}done:{action_id}"
