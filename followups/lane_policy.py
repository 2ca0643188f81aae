"""What a conference's lane does next: its follow-ups go out one at a time, in the order of
their events, a late `conference.created` is waited for a moment, waiting announcements are
merged, and what has become moot is dropped.

Pure: the lane's items and state come in, one step comes out. records/lane_store.py keeps them in
Redis and tasks/drain.py carries the steps out; the protocol is in docs/lanes.md.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.naming import merged_id
from followups.announcement import Chorus, chorus_text
from followups.followup import Announce, FollowUp

CREATED = "conference.created"
ENDED = "conference.ended"
LEFT = "conference.participant.left"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A merged announcement covers at most this many participants (one speak each past that).
MAX_MERGED = 500


@dataclass(frozen=True)
class LaneItem:
    """One follow-up waiting in its conference's lane."""

    action_id: str  # the follow-up's task id: its record in the ledger
    followup: FollowUp
    event_id: str
    event_type: str
    occurred_at: str | None  # as Telnyx gave it (ISO 8601)
    # The same in microseconds since the epoch (as precise as Telnyx's timestamps: events a
    # millisecond apart keep their order); the arrival time if Telnyx gave none.
    occurred_us: int

    @property
    def context(self) -> dict[str, Any]:
        """What the follow-up's task carries besides its target and parameters."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
        }

    @property
    def score(self) -> int:
        """Its place in the lane: the record_start of a created goes before everything else;
        the rest by when their event happened (ties: by arrival, kept by the store)."""
        return 0 if self.event_type == CREATED else self.occurred_us

    def to_json(self) -> str:
        f = self.followup
        announce = None
        if f.announce is not None:
            a = f.announce
            announce = [a.group, a.chorus.__dict__, a.name, a.participant, a.joined]
        return json.dumps(
            [
                self.action_id,
                [f.kind, f.action, f.target, f.params, announce, f.max_age]
                + ([f.priority] if f.priority else []),
                self.event_id,
                self.event_type,
                self.occurred_at,
                self.occurred_us,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> LaneItem:
        action_id, (kind, action, target, params, announce, *rest), event_id, event_type, at, us = (
            json.loads(raw)
        )
        details = None
        if announce is not None:
            group, chorus, name, participant, joined = announce
            details = Announce(group, Chorus(**chorus), name, participant, joined)
        # (An item written by an earlier version has no max_age; most have no priority.)
        max_age, priority = [*rest, None, None][:2]
        followup = FollowUp(kind, action, target, params, details, max_age, priority=priority)
        return cls(action_id, followup, event_id, event_type, at, int(us))


@dataclass(frozen=True)
class LaneState:
    """What the lane knows of its conference, as the policy needs it."""

    first_ms: int = 0  # when the lane first heard of its conference
    created: bool = False  # its conference.created has arrived
    ended: bool = False  # its conference.ended has arrived, or Telnyx said it is over
    left: dict[str, int] = field(default_factory=dict)  # call_control_id -> when they left (us)
    announced: int | None = None  # when its last announcement was sent (ms)


@dataclass(frozen=True)
class Inflight:
    """The command a lane is sending: fixed before it goes out, so that a run that starts
    again after a crash sends exactly it again (same command_id), never a different merge."""

    batch_id: str  # its record in the ledger (for a single item, the item's action id)
    action_ids: list[str]  # every item it covers
    item: LaneItem  # the command, as an item of the lane (action id = batch id)
    event_ids: list[str] = field(default_factory=list)  # the events of the items it covers
    names: int = 0  # how many participants' names it says

    @classmethod
    def of(cls, send: Send) -> Inflight:
        head = send.items[0]
        item = LaneItem(
            send.batch_id,
            send.followup,
            head.event_id,
            head.event_type,
            head.occurred_at,
            head.occurred_us,
        )
        return cls(
            send.batch_id,
            [i.action_id for i in send.items],
            item,
            [i.event_id for i in send.items],
            names_said(send.items),
        )

    def to_json(self) -> str:
        return json.dumps(
            [self.batch_id, self.action_ids, self.item.to_json(), self.event_ids, self.names]
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Inflight:
        batch_id, action_ids, item, *more = json.loads(raw)
        lane_item = LaneItem.from_json(item)
        # (Written by an earlier version: the head's event, and no count.)
        event_ids, names = more if len(more) == 2 else ([lane_item.event_id], 0)
        return cls(batch_id, list(action_ids), lane_item, list(event_ids), int(names))


@dataclass(frozen=True)
class Timing:
    settle_ms: int  # how long to wait for a late conference.created
    spacing_ms: int  # the least time between two announcements in one conference
    max_age_ms: int  # an event older than this is not acted on (nor tried again)...
    wants_created: bool  # the rules call for an action on conference.created
    announce_max_age_ms: int | None = None  # ... or this, for an announcement

    def max_age_of(self, item: LaneItem) -> int:
        """How old (ms) an item's event may be for it to be acted on, or tried again: its
        rule's max_age, else the announcements' or everything's."""
        if item.followup.max_age is not None:
            return item.followup.max_age * 1000
        if item.followup.announce is not None and self.announce_max_age_ms is not None:
            return self.announce_max_age_ms
        return self.max_age_ms

    def too_old(self, item: LaneItem, now_ms: float) -> bool:
        """Whether the item's event is past its age rule at `now_ms` (epoch ms)."""
        return now_ms - item.occurred_us / 1000 > self.max_age_of(item)


@dataclass(frozen=True)
class Send:
    """Send one command covering `items`; record it under `batch_id`."""

    batch_id: str
    items: list[LaneItem]
    followup: FollowUp


@dataclass(frozen=True)
class Drop:
    """Send nothing for `items`: `reason` says why (`outcome` as counted)."""

    items: list[LaneItem]
    reason: str
    outcome: str = "moot"


class WaitReason(enum.StrEnum):
    """Why a lane waits. The drain decides by the member (a wait for the created is checked
    again as it hands off); the text is what its log line says."""

    FOR_CREATED = "waiting for conference.created"
    SPACING = "spacing announcements"


@dataclass(frozen=True)
class Wait:
    """Send nothing until `until_ms` (epoch ms)."""

    until_ms: int
    reason: WaitReason


@dataclass(frozen=True)
class Idle:
    """Nothing waiting."""


Step = Send | Drop | Wait | Idle


def next_step(items: list[LaneItem], state: LaneState, now_ms: int, timing: Timing) -> Step:
    """The lane's next step, given its waiting items in lane order."""
    if not items:
        return Idle()
    if state.ended:
        # The ended event's own follow-ups are what a rule asked for at the end: those stay.
        moot = [i for i in items if i.event_type != ENDED]
        if moot:
            return Drop(moot, "the conference has ended")
    expired = [i for i in items if now_ms - i.occurred_us // 1000 > timing.max_age_of(i)]
    if expired:
        return Drop(expired, "the event is too old to act on", outcome="expired")
    gone = [i for i in items if _participant_left(i, state)]
    if gone:
        return Drop(gone, "the participant has left")
    if timing.wants_created and not state.created:
        settled_at = state.first_ms + timing.settle_ms
        if now_ms < settled_at:
            return Wait(settled_at, WaitReason.FOR_CREATED)
    head = items[0]
    announce = head.followup.announce
    if announce is None:
        return Send(head.action_id, [head], head.followup)
    # The room hears one announcement at a time; joins meanwhile wait and are merged.
    last = state.announced
    if last is not None and now_ms < last + timing.spacing_ms:
        return Wait(last + timing.spacing_ms, WaitReason.SPACING)
    batch = [head]
    for item in items[1:MAX_MERGED]:
        other = item.followup.announce
        if other is None or other.group != announce.group:
            break
        batch.append(item)
    if len(batch) == 1:
        return Send(head.action_id, batch, head.followup)
    return Send(merged_id([i.action_id for i in batch]), batch, merged(batch))


def merged(batch: list[LaneItem]) -> FollowUp:
    """One announcement for every item of `batch` (all of one group), in their order."""
    head = batch[0].followup
    assert head.announce is not None
    names = [i.followup.announce.name if i.followup.announce else None for i in batch]
    params = dict(head.params)
    params["payload"] = chorus_text(names, head.announce.chorus)
    if "command_id" in params:
        params["command_id"] = merged_id([i.followup.params.get("command_id", "") for i in batch])
    return FollowUp(head.kind, head.action, head.target, params, head.announce, head.max_age,
                    priority=head.priority)  # fmt: skip


def names_said(items: list[LaneItem]) -> int:
    """How many participants' names one command for `items` says: one merged sentence names
    the first few (the chorus's `names`) and counts the rest."""
    named = [i for i in items if i.followup.announce is not None and i.followup.announce.name]
    if len(items) == 1 or not named:
        return len(named)
    head = items[0].followup.announce
    limit = head.chorus.names if head is not None else len(named)
    return min(len(named), limit)


def occurred_us(occurred_at: datetime | None, now_ms: int) -> int:
    """An event's time in whole microseconds since the epoch (exact, no float rounding)."""
    if occurred_at is None:
        return now_ms * 1000
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return (occurred_at - EPOCH) // timedelta(microseconds=1)


def _participant_left(item: LaneItem, state: LaneState) -> bool:
    announce = item.followup.announce
    if announce is None or not announce.joined or announce.participant is None:
        return False
    left_at = state.left.get(announce.participant)
    return left_at is not None and left_at >= item.occurred_us
