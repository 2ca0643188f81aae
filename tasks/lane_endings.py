"""How a lane's pinned command ends when it is not sent: given up on (a dead letter) or moot,
and how a lane's item reads as a command. The outcome is settled first, in the lane's fenced
step (with the dead letter in that same step); only once that step has said yes is it said:
logged, and reported to Flower. A run that lost its lane says only that another run holds the
conference now (tasks/lane_hold.py).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import UTC, datetime

from core.logs import log_context
from core.settings import TELNYX_COMMAND_WINDOW_SECONDS
from followups.lane_policy import Inflight, LaneItem, LaneState, Timing
from records.deadletters import DeadLetter
from records.lane_answers import LaneSnapshot, Settled
from tasks import report
from tasks.lane_hold import LaneHold, lane_age
from tasks.send import Command, dead_letter, task_name
from telnyx_api.errors import TelnyxError

log = logging.getLogger(__name__)


def give_up(
    lane: LaneHold, inflight: Inflight, letter: DeadLetter, error: str | TelnyxError
) -> Settled:
    """Settle the command as given up on, its dead letter stored in the same step; only then
    is it said (`error`: what Flower's failure shows). If Telnyx's acceptance of it stood
    instead (recorded by the run that sent it, which has since lost the lane), it is done."""
    settled, accepted = lane.give_up(inflight, letter)
    if accepted:
        log.info("%s: Telnyx accepted it (sent by a run that has since lost the lane); done",
                 where(inflight.item))  # fmt: skip
    elif settled is not Settled.LOST:
        log.error("%s: %s; not tried again", where(inflight.item), letter.error)
        report.failed(inflight.batch_id, error, dead_letter=letter.task_id)
    return settled


def settle_moot(
    lane: LaneHold, inflight: Inflight, why: str, *, started: bool, ended: bool = False
) -> Settled:
    """Settle the command as moot (`ended`: Telnyx says the conference is over); only then is
    it said."""
    settled = lane.settle(inflight, done=True, outcome="moot", ended=ended, detail={"why": why})
    if settled is not Settled.LOST:
        with item_context(inflight.item):
            log.warning("%s: %s; not acted on", where(inflight.item), why)
        args = report.command_args(lane.conference_id, inflight.event_ids, inflight.names)
        report.moot(inflight.batch_id, task_name(inflight.item.followup), args, why,
                    started=started)  # fmt: skip
    return settled


def unknown_letter(inflight: Inflight, attempts: int, sent_at: int) -> DeadLetter:
    """The dead letter of a command sent with no answer longer ago than Telnyx ignores a
    repeat of its command_id: sending it again could act twice, and whether it was acted on
    is unknown."""
    why = (f"outcome unknown: sent at {_when(sent_at)} with no answer from Telnyx, and past its "
           f"{TELNYX_COMMAND_WINDOW_SECONDS}s command_id window now: it may have been acted "
           "on; not sent again")  # fmt: skip
    return dead_letter(command_of(inflight.item), "outcome_unknown", why, attempts)


def expiry(item: LaneItem, timing: Timing) -> str:
    """Why an item too old to act on is given up on."""
    age = lane_age(item) or 0.0
    limit = timing.max_age_of(item) / 1000
    return f"expired: the event is {age:.0f}s old, past this action's {limit:.0f}s"


def expired_letter(item: LaneItem, timing: Timing, attempts: int) -> DeadLetter:
    """The dead letter of a command too old to act on now."""
    letter = dead_letter(command_of(item), "expired", expiry(item, timing), attempts)
    return replace(letter, item=item.to_json())


def maybe_acted_on(letter: DeadLetter, unknown_since: int | None) -> DeadLetter:
    """A refusal's letter, saying so when a send's outcome is unknown (it got no answer, or a
    5xx other than 503: Telnyx may have acted on it)."""
    if unknown_since is None:
        return letter
    error = f"{letter.error}; a send at {_when(unknown_since)} got no clear answer: it may "
    return replace(letter, reason="outcome_unknown", error=error + "have been acted on")


def lane_state(lane: LaneSnapshot) -> LaneState:
    """What the lane policy needs to know of the conference, from the lane as taken."""
    return LaneState(
        first_ms=lane.first_ms,
        created=lane.created,
        ended=lane.ended,
        left=lane.left,
        announced=lane.announced,
    )


def command_of(item: LaneItem) -> Command:
    """The command of a lane's item (or of the inflight command, as its item: its id the
    batch's), dead-lettered as a task of its own."""
    f = item.followup
    return Command(item.action_id, f.kind, f.action, f.target, f.params, item.context)


def where(item: LaneItem) -> str:
    return command_of(item).where


def item_context(item: LaneItem) -> contextlib.AbstractContextManager[None]:
    announce = item.followup.announce
    return log_context(
        event_id=item.event_id,
        event_type=item.event_type,
        action=task_name(item.followup),
        call_control_id=announce.participant if announce else None,
    )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
