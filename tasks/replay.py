"""Replaying dead letters, one or many, keeping every guarantee a first send has.

A lane's letter goes back through its conference's lane (records/lane_replay.py): its drain
sends it in event order, once (the ledger's records hold across the replay). Before it is put
back, what would make sending it wrong is checked in the same step: already done (Telnyx
accepted it since: not sent again), moot (past its age rule, the conference has ended, the
participant it announces has left: reported, not sent). Any other letter (a call's command,
or one stored before letters carried their lane) is queued as its own task, whose ledger
check and age rule are the task's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from followups.lane_policy import LaneItem, Timing
from records.deadletters import DeadLetter, DeadLetters, Replayed
from records.lane_replay import LaneEntry, LaneReplays
from tasks.lane_endings import expiry
from tasks.lane_hold import drain_message


@dataclass
class ReplaySummary:
    """What a replay of many letters came to, letter by letter."""

    replayed: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    moot: dict[str, str] = field(default_factory=dict)  # letter -> why
    not_found: list[str] = field(default_factory=list)

    def add(self, task_id: str, outcome: Replayed, why: str = "") -> None:
        if outcome is Replayed.REPLAYED:
            self.replayed.append(task_id)
        elif outcome is Replayed.DONE:
            self.already_done.append(task_id)
        elif outcome is Replayed.MOOT:
            self.moot[task_id] = why
        else:
            self.not_found.append(task_id)


def replay_all(
    store: DeadLetters,
    lanes: LaneReplays,
    letters: Iterable[DeadLetter],
    timing: Timing,
    *,
    dry_run: bool = False,
) -> ReplaySummary:
    """Replay each of `letters` (or, `dry_run`, say what each would come to)."""
    summary = ReplaySummary()
    for letter in letters:
        summary.add(letter.task_id, *replay_one(store, lanes, letter, timing, dry_run=dry_run))
    return summary


def replay_one(
    store: DeadLetters, lanes: LaneReplays, letter: DeadLetter, timing: Timing, *, dry_run: bool
) -> tuple[Replayed, str]:
    if letter.item is None or letter.conference_id is None:
        if dry_run:
            return Replayed.REPLAYED, ""
        return store.replay_task(letter.task_id, listed=letter), ""
    raw = store.raw(letter.task_id)
    if raw is None or DeadLetter.from_json(raw) != letter:
        # (Gone, or written again since it was listed: another replay's outcome, say, which
        # the filter that chose it may not match. The script checks `raw` is still there.)
        return Replayed.GONE, ""
    item = LaneItem.from_json(letter.item)
    entry = _entry(item, letter.task_id)
    drain = drain_message(letter.conference_id)
    moot_why = _too_old(item, timing, lanes.now())
    return lanes.replay_letter(letter, raw, entry, drain, moot_why, dry=dry_run)


def _entry(item: LaneItem, letter_id: str) -> LaneEntry:
    """The letter's command as one item of its lane. An announcement keeps its sentence (a
    merged one covers everyone it named, under its own command_id), so it is put in a group
    of its own: it is not merged again with the joins waiting beside it."""
    announce = item.followup.announce
    participant = None
    if announce is not None:
        participant = announce.participant if announce.joined else None
        followup = replace(item.followup, announce=replace(announce, group=f"replay:{letter_id}"))
        item = replace(item, followup=followup)
    return LaneEntry(item.score, item.to_json(), item.occurred_us, participant)


def _too_old(item: LaneItem, timing: Timing, now: float) -> str:
    """Why the item is past its age rule at `now` (epoch s; '' when it is not)."""
    if not timing.too_old(item, now * 1000):
        return ""
    return expiry(item, timing).removeprefix("expired: ")
