"""What the lane store's scripts answer (records/lane_store.py), typed: one enum or record per
script, and the lane as a run finds it, parsed from the lane's hash so that no caller names a
Redis field. What each answer means is in docs/lanes.md, script by script.

The enums' values are the scripts' own replies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from records.replies import text


class TakeStatus(enum.StrEnum):
    OK = "ok"  # the run holds the lane now
    STALE = "stale"  # the drain is not the lane's any more: its message is complete
    BUSY = "busy"  # another run holds the lane's lease


class Requeued(enum.StrEnum):
    QUEUED = "queued"  # due again when the holder's lease ends
    STALE = "stale"  # the drain is not the lane's any more: its message is complete
    FREE = "free"  # the lease has just ended: take the lane again


class Pinned(enum.IntEnum):
    NOT_PINNED = 0  # nothing changed: the run does not hold the lane, a command is in flight
    # already, or a member is no longer waiting
    CLAIMED = 1  # pinned, and claimed in the ledger for this run
    # pinned, not claimed: another owner holds the command's claim, or the command is done
    # already (a run that lost the lane had it accepted): the ledger's begin says which
    CLAIMED_ELSEWHERE = 2


class Settled(enum.StrEnum):
    IDLE = "idle"  # nothing else waits: the lane went idle, the drain's message is complete
    MORE = "more"  # items wait: the run goes on
    LOST = "lost"  # the run does not hold the lane (only a sent command's done record written)


class HandedOff(enum.StrEnum):
    IDLE = "idle"  # the run is over, and the lane idle
    NEXT = "next"  # the run is over, and the successor is the lane's drain
    AGAIN = "again"  # the created waited for has come: nothing changed, take the lane again
    LOST = "lost"  # the run does not hold the lane: nothing changed


class Entry(NamedTuple):
    """A waiting item: its queue member, and the item as stored."""

    member: str
    item: str

    @property
    def action_id(self) -> str:
        return member_id(self.member)


@dataclass(frozen=True)
class LaneSnapshot:
    """The lane as a run finds it: what is known of the conference, the command in flight,
    and the waiting items in lane order."""

    first_ms: int = 0  # when the lane first heard of its conference
    created: bool = False  # its conference.created has arrived
    ended: bool = False  # its conference.ended has arrived, or Telnyx said it is over
    left: dict[str, int] = field(default_factory=dict)  # call_control_id -> left at (us)
    announced: int | None = None  # when its last announcement was sent (ms)
    inflight: str | None = None  # the pinned command, as the drain wrote it
    attempts: int = 0  # the pinned command's failed attempts so far
    # When it was first sent of the attempts whose outcome is unknown (ms, Redis's clock):
    # Telnyx may have acted on it, and its command_id window runs from then.
    sent_at: int | None = None
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def from_fields(
        cls, fields: dict[str, str], entries: list[Entry] | None = None
    ) -> LaneSnapshot:
        """From the lane's state hash (field names: docs/lanes.md, "Keys")."""
        return cls(
            first_ms=int(fields.get("first", 0)),
            created="created" in fields,
            ended="ended" in fields,
            left={k[5:]: int(v) for k, v in fields.items() if k.startswith("left:")},
            announced=int(fields["announced"]) if "announced" in fields else None,
            inflight=fields.get("inflight"),
            attempts=int(fields.get("attempts", 0)),
            sent_at=int(fields["sent_at"]) if "sent_at" in fields else None,
            entries=entries or [],
        )


@dataclass(frozen=True)
class Marked:
    """The mark_sent script's answer: the lane's first send whose outcome is unknown (ms, by
    Redis's clock), whether it is the caller's own, and whether the window has passed since
    (the command must not be sent again); `now_ms`: Redis's clock at the check."""

    sent_at: int
    own: bool
    past: bool
    now_ms: int


@dataclass(frozen=True)
class Taken:
    """The take script's answer: `lane` when the status is OK, and `missing`: the action ids
    of waiting members whose stored item was gone (dropped from the queue, counted);
    `busy_seconds`, the holder's lease left, when BUSY."""

    status: TakeStatus
    busy_seconds: float = 0.0
    lane: LaneSnapshot = field(default_factory=LaneSnapshot)
    missing: list[str] = field(default_factory=list)


def member_id(member: str) -> str:
    """The action id in a queue member: a member is the item's arrival number in its lane
    (12 digits), ':' and its action id, as lib/members.lua writes it."""
    return member.partition(":")[2]


def taken(answer: Any) -> Taken:
    """The take script's reply as Taken."""
    status = TakeStatus(text(answer[0]))
    if status is TakeStatus.BUSY:
        return Taken(status, busy_seconds=max(int(answer[1]), 0) / 1000)
    if status is not TakeStatus.OK:
        return Taken(status)
    raw = answer[1]
    fields = {text(raw[i]): text(raw[i + 1]) for i in range(0, len(raw), 2)}
    entries = [Entry(text(m), text(v)) for m, v in zip(answer[2], answer[3], strict=True)]
    missing = [text(action_id) for action_id in answer[4]]
    return Taken(status, lane=LaneSnapshot.from_fields(fields, entries), missing=missing)
