"""A lane's dead letter replayed through its lane (records/lua/lanes/replay.lua): put back as
one item, in event order, for the lane's drain to send like any other; or, when the ledger or
the lane says so, reported done or moot instead of being sent."""

from __future__ import annotations

import time
from dataclasses import dataclass

from records import scripts
from records.deadletters import LETTER_INDEX, LETTERS, DeadLetter, Replayed
from records.lane_scripts import LaneScripts
from records.once import done_key
from records.replies import text
from records.timeline import note

REPLAY = scripts.load("lanes/replay")


@dataclass(frozen=True)
class LaneEntry:
    """The letter's command as an item of its lane: its place, and who it announces."""

    score: int
    item: str  # the item's JSON (its action id: the letter's)
    occurred_us: int
    participant: str | None = None  # a join announcement's call_control_id


class LaneReplays(LaneScripts):
    def replay_letter(
        self,
        letter: DeadLetter,
        raw: bytes | str,
        entry: LaneEntry,
        drain: tuple[str, bytes],
        moot_why: str = "",
        *,
        dry: bool = False,
    ) -> tuple[Replayed, str]:
        """Replay `letter` (as stored: `raw`) through its conference's lane, `drain` (id,
        message) its drain if it has none; `moot_why`: the caller found it too old. Returns
        what it came to, and why when moot. `dry`: nothing written; what it would come to."""
        assert letter.conference_id is not None
        keys = self._keys(
            REPLAY, letter.conference_id, done=done_key(letter.task_id), letter_index=LETTER_INDEX,
            letters=LETTERS,
        )  # fmt: skip
        args = self._args(
            REPLAY, letter_id=letter.task_id, letter=raw, action_id=letter.task_id,
            score=entry.score, item=entry.item, drain_id=drain[0], drain_message=drain[1],
            now_s=time.time(), moot_why=moot_why, participant=entry.participant or "",
            occurred_us=entry.occurred_us, dry=int(dry),
            note=note("replay", batch=letter.task_id, action=letter.task, codes=letter.codes),
        )  # fmt: skip
        answer = self._write(REPLAY, keys, args)
        outcome = text(answer[0])
        if outcome == "moot":
            return Replayed.MOOT, text(answer[1])
        return {"gone": Replayed.GONE, "done": Replayed.DONE}.get(outcome, Replayed.REPLAYED), ""
