"""A drain run's hold on its conference's lane: the steps it takes in the lane's store
(records/lane_store.py) as the lane's drain, and the drain messages it hands over to.

Every step names the run (its drain id and owner token), so one that no longer holds the lane
changes nothing; each waits out a Redis outage, past which the message goes back to the queue
(tasks/outcomes.py). What the run does with the lane, step by step, is tasks/drain.py's.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from core.naming import LANE_DRAIN
from core.settings import RESEND_WINDOW_SECONDS, TELNYX_COMMAND_WINDOW_SECONDS
from followups.lane_policy import Inflight, LaneItem
from records.deadletters import DeadLetter
from records.fleet import Answer, Go, Ticket
from records.lane_answers import HandedOff, Marked, Pinned, Requeued, Settled, Taken
from records.messages import celery_message
from records.metrics import field
from tasks import limits, runtime, timeline_notes
from tasks.outcomes import through_redis_outage
from tasks.send import age_seconds, task_name
from telnyx_api.errors import TelnyxError

log = logging.getLogger(__name__)
T = TypeVar("T")


def drain_message(
    conference_id: str, eta: datetime | None = None, task_id: str | None = None
) -> tuple[str, bytes]:
    """A `lane.drain` message for the conference's lane, due at `eta` (by Redis's clock:
    RedisClock.eta), else at once: its task id, and the message as the broker keeps it."""
    task_id = task_id or str(uuid.uuid4())
    argsrepr = f"conference={conference_id}"[:300]
    return task_id, celery_message(LANE_DRAIN, task_id, [conference_id], argsrepr, eta=eta)


class LaneHold:
    """The lane store's steps, taken as the lane's drain `drain_id` in the run `owner`."""

    def __init__(self, conference_id: str, drain_id: str, owner: str) -> None:
        self.conference_id = conference_id
        self.drain_id = drain_id
        self.owner = owner
        self.where = f"lane {conference_id}"
        self.rt = runtime.current()

    def take(self) -> Taken:
        """Take the lane for this run, and read it (see LaneStore.take)."""
        lanes = self.rt.lanes
        return self.redis(lambda: lanes.take(self.conference_id, self.drain_id, self.owner))

    def say_missing(self, taken: Taken) -> None:
        """Log each waiting item the take found without its stored item (and dropped)."""
        for action_id in taken.missing:
            log.warning("%s: action %s waited without its stored item (evicted, or deleted by "
                        "hand); dropped, not acted on", self.where, action_id)  # fmt: skip

    def pin(self, inflight: Inflight, taken: list[str]) -> Pinned:
        """Pin the command the lane sends next, claimed in the ledger (see LaneStore.pin)."""
        return self.redis(
            lambda: self.rt.lanes.pin(self.conference_id, self.drain_id, inflight.batch_id,
                                      inflight.to_json(), taken, self.owner,
                                      timeline_notes.merged(inflight))
        )  # fmt: skip

    def pin_and_ask(
        self, inflight: Inflight, taken: list[str], send_token: str, ticket: Ticket
    ) -> tuple[Pinned, Go | None]:
        """Pin, claim and ask the fleet whether it may go (the command's place in its queue:
        `ticket`), in one step; if it may, this send (`send_token`) is recorded as the
        command's first (LaneStore.pin_and_ask)."""
        return self.redis(
            lambda: self.rt.lanes.pin_and_ask(self.conference_id, self.drain_id,
                                              inflight.batch_id, inflight.to_json(), taken,
                                              self.owner, self.rt.fleet, ticket, send_token,
                                              timeline_notes.merged(inflight))
        )  # fmt: skip

    def mark_sent(self, send_token: str) -> Marked | None:
        """Before a send of the pinned command: its first send whose outcome is unknown, and
        whether Telnyx's window has passed since; None when this run no longer holds the lane
        (LaneStore.mark_sent)."""
        return self.redis(
            lambda: self.rt.lanes.mark_sent(self.conference_id, self.drain_id, self.owner,
                                            send_token, RESEND_WINDOW_SECONDS)
        )  # fmt: skip

    def drop(
        self,
        members: list[str],
        counters: list[str],
        letters: list[DeadLetter | None],
        note: str = "",
    ) -> bool:
        """Drop the lane's items `members`, counted, with their dead letters if they are given
        up on (see LaneStore.drop)."""
        letters = [self.lettered(letter) if letter else None for letter in letters]
        return self.redis(
            lambda: self.rt.lanes.drop(
                self.conference_id, self.drain_id, self.owner, members, counters, letters, note
            )
        )

    def lettered(self, letter: DeadLetter, item: LaneItem | None = None) -> DeadLetter:
        """A letter of this lane's: it names the conference, and carries its command as an item
        of the lane, so that a replay goes through the lane."""
        item_json = item.to_json() if item is not None else letter.item
        return replace(letter, conference_id=self.conference_id, item=item_json)

    def settle(
        self,
        inflight: Inflight,
        *,
        done: bool,
        outcome: str,
        announced: bool = False,
        ended: bool = False,
        tell: Answer | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Settled:
        """Record how the inflight command ended. IDLE:
        the lane went idle with it (this run is over, its message complete); LOST: this run
        has lost the lane, and nothing of this outcome was recorded: its next take says
        whether it is stale, or another run holds the lane. `tell`: Telnyx's answer to it,
        for the fleet (sent commands); `detail`: what the timeline's entry adds (Telnyx's
        answer, the reason it is moot)."""
        note = timeline_notes.command(outcome, inflight, **(detail or {}))
        name = task_name(inflight.item.followup)
        counters = [field("telnyx_actions_total", {"action": name, "outcome": outcome})]
        if outcome == "sent":
            # The other events a merged announcement covered.
            merged = field("telnyx_actions_total", {"action": name, "outcome": "merged"})
            counters += [merged] * (len(inflight.action_ids) - 1)
        latency = lane_age(inflight.item) if outcome == "sent" else None
        lanes, drain = self.rt.lanes, (self.drain_id, self.owner)
        if tell is not None:
            answer, changed = self.redis(
                lambda: lanes.settle_and_tell(
                    self.conference_id, inflight.batch_id, inflight.action_ids, drain=drain,
                    fleet=self.rt.fleet, answer=tell, counters=counters, announced=announced,
                    latency=latency, note=note,
                )
            )  # fmt: skip
            limits.log_circuit_change(changed, None)
        else:
            answer = self.redis(
                lambda: lanes.settle(
                    self.conference_id, inflight.batch_id, inflight.action_ids, drain=drain,
                    done=done, counters=counters, announced=announced, ended=ended,
                    latency=latency, note=note,
                )
            )  # fmt: skip
        if answer is Settled.LOST:
            log.warning("%s: another run holds this conference now", self.where)
        return answer

    def give_up(
        self, inflight: Inflight, letter: DeadLetter, exc: TelnyxError | None = None
    ) -> tuple[Settled, bool]:
        """Settle the inflight command as given up on, its dead letter stored in the same step;
        True beside the answer when Telnyx's acceptance of it, recorded by a run that lost the
        lane, stood instead (see LaneStore.give_up). `exc`: Telnyx's refusal, if it was one."""
        name = task_name(inflight.item.followup)
        outcome = "expired" if letter.reason == "expired" else "dead_lettered"
        letter = self.lettered(letter, inflight.item)
        counters = [field("telnyx_actions_total", {"action": name, "outcome": outcome})]
        answer, accepted = self.redis(
            lambda: self.rt.lanes.give_up(
                self.conference_id, inflight.batch_id, inflight.action_ids,
                drain=(self.drain_id, self.owner), letter=letter, counters=counters,
                note=timeline_notes.dead_letter(inflight, letter, exc),
            )
        )  # fmt: skip
        if answer is Settled.LOST:
            log.warning("%s: another run holds this conference now", self.where)
        return answer, accepted

    def requeue(self, delay: float) -> Requeued:
        """Queue this drain's message again, due in `delay` s; see LaneStore.requeue."""
        again = drain_message(self.conference_id, self.eta(delay), task_id=self.drain_id)
        due = time.time() + delay
        return self.redis(lambda: self.rt.lanes.requeue(self.conference_id, again, due))

    def hand_off(
        self,
        delay: float = 0.0,
        waiting: bool = False,
        failed: bool = False,
        for_created: bool = False,
        answered_send: str | None = None,
        counters: list[str] | None = None,
        note: str = "",
    ) -> HandedOff:
        """End this run: the lane goes idle, or to a new drain message (due in `delay` s).
        Returns idle or next (the run is over), again (a created came: take the lane again) or
        lost (this run no longer holds the lane: take it again, to learn who does)."""
        successor = drain_message(self.conference_id, self.eta(delay))
        return self.redis(
            lambda: self.rt.lanes.hand_off(
                self.conference_id, self.drain_id, self.owner, successor, delay=delay,
                waiting=waiting, failed=failed, for_created=for_created,
                answered_send=answered_send, counters=counters or [], note=note,
            )
        )  # fmt: skip

    def eta(self, delay: float) -> datetime | None:
        """The ETA of a drain message due in `delay` s, by Redis's clock; None for at once."""
        return self.rt.clock.eta(delay) if delay > 0 else None

    def redis(self, step: Callable[[], T]) -> T:
        """Run one Redis step of this run's, waiting out an outage."""
        return through_redis_outage(step, self.where)


def lane_age(item: LaneItem) -> float | None:
    """How old a lane item's event is, never less than nothing (a clock behind Telnyx's would
    have it come from the future)."""
    age = age_seconds(item.occurred_at)
    return max(age, 0.0) if age is not None else None


def send_deadline(mark: Marked | None, checked: float) -> float:
    """When the send of the command in flight, and each extra request of it (its hedge, its
    copy sent at once after a 5xx), must be on its way (by time.monotonic(), `checked` being
    when mark_sent answered): before Telnyx's command_id window closes, from the lane's first
    send whose outcome is unknown by Redis's clock, less a second for the way there. `mark`:
    mark_sent's answer; None when the pin recorded this send as the first, at `checked`."""
    elapsed = 0.0 if mark is None else (mark.now_ms - mark.sent_at) / 1000
    return checked + TELNYX_COMMAND_WINDOW_SECONDS - 1 - elapsed
