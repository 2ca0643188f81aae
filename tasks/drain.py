"""Conference lanes: an event's follow-ups wait in their conference's lane, and one drain at a
time sends them, in event order, each after Telnyx has answered the one before.

The event task adds an event's follow-ups to the lane (tasks/events.py). If the lane was idle,
the event task becomes its drain and runs it on its own thread at once; otherwise the lane's
drain will get to them. A drain takes the lane, asks the policy (followups/lane_policy.py) for
the next step, and carries it out: send one command (merged from several waiting announcements,
maybe), drop what is moot, or wait (for a late conference.created, to space announcements, or
to retry a failed command: the lane keeps its order meanwhile) by handing over to a delayed
`lane.drain` task. A run sends for a few seconds at most, then hands over, so no lane keeps a
thread from the others. (The run's steps in the lane's store, records/lane_store.py, are taken
through its hold on the lane: tasks/lane_hold.py.)

A command is pinned in the lane before it is sent and claimed in the ledger like any other
action; once Telnyx accepts it, every item it covers is recorded done in one Redis step. A
drain killed mid-run is redelivered by the broker (or queued again by the journal) and carries
on with exactly that command. It is sent, and a refusal judged, as any command is
(tasks/send.py); what that comes to is carried out in the lane.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery import Task, shared_task

from core.logs import context_value, log_context
from core.naming import LANE_DRAIN
from core.settings import SEND_GRACE_SECONDS
from followups.lane_policy import (
    ENDED,
    Drop,
    Idle,
    Inflight,
    LaneItem,
    Send,
    Wait,
    WaitReason,
    names_said,
    next_step,
)
from records.fleet import Go, Ticket
from records.lane_answers import (
    HandedOff,
    LaneSnapshot,
    Pinned,
    Requeued,
    Settled,
    Taken,
    TakeStatus,
)
from records.ledger import Begin
from records.metrics import field
from tasks import limits, report, runtime, timeline_notes
from tasks.lane_endings import (
    command_of,
    expired_letter,
    expiry,
    give_up,
    item_context,
    lane_state,
    maybe_acted_on,
    settle_moot,
    unknown_letter,
    where,
)
from tasks.lane_hold import LaneHold, send_deadline
from tasks.send import Command, Moot, TryAgain, log_refusal, refused, send, task_name
from telnyx_api.errors import TelnyxError

log = logging.getLogger(__name__)

# One run of a drain sends for about this long, then hands over to a new message: other lanes
# get the thread in turn, and a run stays far inside the broker's visibility timeout.
RUN_SECONDS = 5.0
# Telnyx's answer that the conference is over: nothing more to send in its lane.
CONFERENCE_OVER = "90019"
# Hand-over answers after which a run takes its lane again instead of ending.
TAKE_AGAIN = frozenset({HandedOff.AGAIN, HandedOff.LOST})


@shared_task(name=LANE_DRAIN, bind=True, max_retries=None)
def lane_drain(self: Task[Any, Any], conference_id: str) -> dict[str, Any]:
    with log_context(task_id=str(self.request.id), conference_id=conference_id):
        return run_drain(conference_id, str(self.request.id))


def run_drain(
    conference_id: str, drain_id: str, owner: str | None = None, first: Taken | None = None
) -> dict[str, Any]:
    """Act as the lane's drain `drain_id` for a few seconds, or until it is idle or waits.
    `owner` and `first`: the run, and its first take, when add_to_lane took the lane already."""
    return _Drain(conference_id, drain_id, owner, first).run()


class _Drain:
    def __init__(
        self,
        conference_id: str,
        drain_id: str,
        owner: str | None = None,
        first: Taken | None = None,
    ) -> None:
        self.conference_id = conference_id
        self.owner = owner or uuid.uuid4().hex
        self.first = first
        self.lane = LaneHold(conference_id, drain_id, self.owner)
        self.where = self.lane.where
        self.rt = runtime.current()
        self.timing = self.rt.lane_timing
        # What this run sent (Flower shows it as the task's result): the commands' ids, each
        # a Flower entry of its own (tasks/report.py), no text.
        self.sent: list[str] = []
        # How many sends this run has begun: each send's token is its own (`_send_token`).
        self.sends = 0
        self.stop_at = time.monotonic() + RUN_SECONDS

    def run(self) -> dict[str, Any]:
        while True:
            taken, self.first = self.first, None
            if taken is None:
                taken = self.lane.take()
            self.lane.say_missing(taken)
            if taken.status is TakeStatus.STALE:
                # Replaced (woken early, or a copy of a message already handled): nothing to
                # do. (The take completed its message in the journal.)
                return {"status": "stale", "sent": self.sent}
            if taken.status is TakeStatus.BUSY:
                # Another run holds the lane now (a redelivery while the first was still at
                # work, or a run that outlived its lease). This copy comes back when that
                # lease ends: if its holder has died, it takes over then.
                log.info("%s: another run holds the lane; again in %.1fs",
                         self.where, taken.busy_seconds)  # fmt: skip
                if self.lane.requeue(taken.busy_seconds + 0.1) is Requeued.FREE:
                    continue
                return {"status": "busy", "sent": self.sent}
            lane = taken.lane
            if lane.inflight is not None:
                inflight = Inflight.from_json(lane.inflight)
                if lane.ended and inflight.item.event_type != ENDED:
                    # (It was waiting to be tried again when the end arrived.)
                    why, started = "the conference has ended", lane.attempts > 0
                    if settle_moot(self.lane, inflight, why, started=started) is Settled.IDLE:
                        return {"status": "idle", "sent": self.sent}
                    continue
                if not self._send_pinned(inflight, lane.attempts, sent_at=lane.sent_at):
                    return {"status": "handed over", "sent": self.sent}
            elif not self._step(lane):
                return {"status": "handed over", "sent": self.sent}
            if time.monotonic() > self.stop_at and self.lane.hand_off() is not HandedOff.LOST:
                return {"status": "handed over", "sent": self.sent}

    def _step(self, lane: LaneSnapshot) -> bool:
        """Carry out the lane's next step; False when this run is over."""
        items = [LaneItem.from_json(entry.item) for entry in lane.entries]
        members = {entry.action_id: entry.member for entry in lane.entries}
        now = self.rt.clock.now()
        step = next_step(items, lane_state(lane), int(now * 1000), self.timing)
        if isinstance(step, Idle):
            return self.lane.hand_off() in TAKE_AGAIN
        if isinstance(step, Wait):
            delay = max(step.until_ms / 1000 - now, 0.0)
            # (The created may arrive between the take and the hand-over: then take again.)
            for_created = step.reason is WaitReason.FOR_CREATED
            handed = self.lane.hand_off(delay=delay, waiting=True, for_created=for_created,
                                        note=timeline_notes.wait(step.reason, delay))  # fmt: skip
            if handed in (HandedOff.NEXT, HandedOff.IDLE):
                log.info("%s: %s, %.2fs", self.where, step.reason, delay)
            return handed in TAKE_AGAIN
        if isinstance(step, Drop):
            self._drop(step, members)
            return True
        assert isinstance(step, Send)
        inflight = Inflight.of(step)
        taken = [members[i.action_id] for i in step.items]
        if self._too_old(inflight):
            # (It will be given up on, not sent: the fleet is not asked.)
            pinned, go = self.lane.pin(inflight, taken), None
        else:
            # Pinned, claimed and cleared by the fleet in one step; if it may go now, the lane
            # records this send as its first.
            pinned, go = self.lane.pin_and_ask(
                inflight, taken, self._send_token(), ticket_of(inflight)
            )
        if pinned is Pinned.NOT_PINNED:
            return True
        marked = time.monotonic() if go is not None and go.now else None
        claimed = pinned is Pinned.CLAIMED
        return self._send_pinned(inflight, 0, claimed=claimed, go=go, marked=marked)

    def _drop(self, step: Drop, members: dict[str, str]) -> None:
        # Too old to matter now (they waited out an outage, say): given up on, each with a
        # dead letter written in the same step, for an operator to see (and replay, if it
        # still matters).
        expired = step.outcome == "expired"
        letters = [expired_letter(i, self.timing, 0) if expired else None for i in step.items]
        counters = [
            field("telnyx_actions_total", {"action": task_name(i), "outcome": step.outcome})
            for i in (item.followup for item in step.items)
        ]
        taken = [members[i.action_id] for i in step.items]
        if not self.lane.drop(taken, counters, letters, timeline_notes.dropped(step)):
            return
        for item in step.items:
            reason = expiry(item, self.timing) if expired else step.reason
            args = report.command_args(self.conference_id, [item.event_id], names_said([item]))
            if expired:
                report.attempt(item.action_id, task_name(item.followup), args, 1)
                report.failed(item.action_id, reason, dead_letter=item.action_id)
            else:
                report.moot(item.action_id, task_name(item.followup), args, reason, started=False)
            with item_context(item):
                log.warning("%s: %s; not acted on", where(item), reason)

    def _send_pinned(
        self,
        inflight: Inflight,
        attempts: int,
        *,
        claimed: bool = False,
        go: Go | None = None,
        sent_at: int | None = None,
        marked: float | None = None,
    ) -> bool:
        """Send the pinned command (once: the ledger's claim and done record), and record
        how it ended for every item it covers; False when this run is over (the lane went
        idle, or the command is to be tried again later, by the next drain). `claimed`: the pin
        took the ledger's claim; `go`: and the fleet's answer; `marked`: and recorded this send
        (when, monotonic). `sent_at`: an earlier send's outcome is unknown (Telnyx may have acted
        on it), so it is sent again at once, but only inside its command_id window."""
        with item_context(inflight.item):
            return self._send_pinned_logged(inflight, attempts, claimed, go, sent_at, marked)

    def _send_pinned_logged(
        self,
        inflight: Inflight,
        attempts: int,
        claimed: bool,
        first: Go | None,
        sent_at: int | None,
        marked: float | None,
    ) -> bool:
        rt, item = self.rt, inflight.item
        followup, command = item.followup, command_of(item)
        state, wait = Begin.CLAIMED, 0.0
        if not claimed:
            lease = rt.settings.lane_lease_seconds
            state, wait = self.lane.redis(
                lambda: rt.ledger.begin(
                    inflight.batch_id, self.owner, lease, conference_id=self.lane.conference_id
                )
            )
        if state is Begin.DONE:
            return self.lane.settle(inflight, done=True, outcome="duplicate") is not Settled.IDLE
        if state is Begin.BUSY:
            # Another worker holds its claim (a run that lost its lane?): take the lane again
            # when it lapses.
            why = timeline_notes.wait("another worker holds its claim", wait + 0.5, inflight)
            handed = self.lane.hand_off(delay=wait + 0.5, waiting=True, note=why)
            if handed is not HandedOff.LOST:
                log.info("%s: another worker is sending it; again in %.1fs", command.where, wait)
            return handed in TAKE_AGAIN
        # (A resend of an unknown outcome goes ahead of the fleet's pace and circuit.)
        went = first if marked is not None else None
        if sent_at is None and marked is None:
            if self._too_old(inflight):
                return self._expired(inflight, attempts)
            if not (went := self._clearance(inflight, first)).now:
                return self._wait_for_telnyx(inflight, attempts, went)
            if self._too_old(inflight):
                return self._expired(inflight, attempts)  # (it grew too old waiting)
        token, mark = self._send_token(), None
        unknown_since: int | None = None
        if marked is None:
            mark = self.lane.mark_sent(token)
            if mark is None:
                return True  # (this run lost the lane: its next take says to whom)
            if mark.past:
                letter = unknown_letter(inflight, attempts, mark.sent_at)
                return give_up(self.lane, inflight, letter, letter.error) is not Settled.IDLE
            marked, unknown_since = time.monotonic(), None if mark.own else mark.sent_at
        if went is None:
            # A resend goes whatever the pace says, but counts in it as Telnyx counts it.
            self.lane.redis(lambda: rt.fleet.count(self.owner))
        if time.monotonic() - marked > SEND_GRACE_SECONDS:
            return True  # (too long since the window was checked: take the lane, check again)
        self.sends += 1  # (this send is begun: the run's next one, whatever comes, is another)
        started, leave_by = time.monotonic(), send_deadline(mark, marked)
        report.attempt(inflight.batch_id, command.name, self._args(inflight), attempts + 1)
        try:
            retries = rt.retries(self.owner, command.where)
            send(rt.client, command, leave_by=leave_by, retries=retries)
        except TelnyxError as exc:
            self._tell(exc, went)
            self.lane.redis(lambda: rt.ledger.release(inflight.batch_id, self.owner))
            # Only an answer that says nothing was done (a 4xx, a 503, no connection) lets the
            # lane forget this send; silence or another 5xx does not (telnyx_api/errors.py).
            refusal = not exc.may_have_acted
            if not refusal and unknown_since is None:
                unknown_since = int(rt.clock.now() * 1000)
            answered = token if refusal else None
            return self._refused(inflight, command, exc, attempts, answered, unknown_since)
        self.sent.append(inflight.batch_id)
        # (The fleet learns from Telnyx's answer in the same step.)
        settled = self.lane.settle(
            inflight, done=True, outcome="sent", announced=followup.announce is not None,
            tell=limits.fleet_answer(None, went),
            detail={"attempt": attempts + 1, "request_id": context_value("telnyx_request_id")},
        )  # fmt: skip
        # (Telnyx accepted it: true whoever holds the lane, which records it done either way.)
        report.accepted(
            inflight.batch_id,
            request_id=context_value("telnyx_request_id"),
            command_id=followup.params.get("command_id"),
            attempts=attempts + 1,
            started=started,
            hedged=retries.hedged,
        )
        covered = len(inflight.action_ids)
        log.info("%s: sent%s", command.where, f", for {covered} events" if covered > 1 else "")
        return settled is not Settled.IDLE

    def _wait_for_telnyx(self, inflight: Inflight, attempts: int, go: Go) -> bool:
        """Telnyx is down (the fleet's circuit is open) or the fleet is paused by its rate
        limit: this command waits, and the lane behind it, without spending an attempt."""
        item = inflight.item
        self.lane.redis(lambda: self.rt.ledger.release(inflight.batch_id, self.owner))
        note = timeline_notes.wait(go.why, go.wait, inflight)
        handed = self.lane.hand_off(delay=go.wait, waiting=True, note=note)
        if handed is not HandedOff.LOST:
            ticket = ticket_of(inflight)
            report.waiting(inflight.batch_id, task_name(item.followup), self._args(inflight),
                           attempts, go, ticket.priority)  # fmt: skip
            log.info("%s: waiting for Telnyx (%s), %.1fs, %d ahead of it (%s)",
                     where(item), go.why, go.wait, go.ahead, ticket.priority)  # fmt: skip
        return handed in TAKE_AGAIN

    def _send_token(self) -> str:
        """This run's next send: the same for a step run again after a lost reply (and for the
        pin that records the send and the send itself), another once a send is begun. (Not the
        lane's failed attempts: a run whose hand-off of a failed send was lost takes the lane
        again with the count unchanged, and its next send must not pass for the one before,
        whose outcome may be unknown: mark_sent would then not check its window, and a refusal
        of the next would forget it.)"""
        return f"{self.owner}:{self.sends}"

    def _clearance(self, inflight: Inflight, first: Go | None = None) -> Go:
        """Whether the fleet may send now; a wait left is handed to the lane's next drain (the
        lane's lease is not held across it: the hand-over ends this run), the command keeping
        its place in the fleet's queue. `first`: what the fleet answered when it was pinned."""
        ticket = ticket_of(inflight)
        return self.lane.redis(lambda: limits.clearance(self.rt.fleet, self.owner, ticket, first))

    def _tell(self, exc: TelnyxError | None, went: Go | None) -> None:
        self.lane.redis(lambda: limits.tell(self.rt.fleet, self.owner, exc, went))

    def _too_old(self, inflight: Inflight) -> bool:
        return self.timing.too_old(inflight.item, self.rt.clock.now() * 1000)

    def _expired(self, inflight: Inflight, attempts: int) -> bool:
        """Given up on: too old to matter now (after an outage, say). Dead-lettered as expired,
        for an operator to see (and replay, if it still matters)."""
        letter = expired_letter(inflight.item, self.timing, attempts)
        return give_up(self.lane, inflight, letter, letter.error) is not Settled.IDLE

    def _refused(
        self,
        inflight: Inflight,
        command: Command,
        exc: TelnyxError,
        retries: int,
        answered: str | None,
        unknown_since: int | None,
    ) -> bool:
        # (The lane's own limit: a command whose event is too old now is given up on rather
        # than retried; if Telnyx may have acted on it, its outcome is unknown.)
        if self._too_old(inflight) and exc.retryable:
            if unknown_since is not None:
                letter = unknown_letter(inflight, retries + 1, unknown_since)
                return give_up(self.lane, inflight, letter, letter.error) is not Settled.IDLE
            return self._expired(inflight, retries + 1)
        what = refused(command, exc, retries)
        if isinstance(what, TryAgain):
            # The lane waits for it: the commands behind it keep their order.
            retried = field("telnyx_actions_total", {"action": command.name, "outcome": "retried"})
            handed = self.lane.hand_off(
                delay=what.delay, waiting=True, failed=True, counters=[retried],
                answered_send=answered,
                note=timeline_notes.attempt_failed(inflight, exc, retries + 1, what.delay),
            )  # fmt: skip
            if handed is not HandedOff.LOST:
                log_refusal(command, exc, retries, what)
                report.retrying(inflight.batch_id, exc, what.delay)
            return handed in TAKE_AGAIN
        if isinstance(what, Moot):
            over = CONFERENCE_OVER in what.codes
            # (Not `what.why`, which quotes Telnyx's detail: it may quote the request.)
            detail = {"why": "Telnyx says it is over", **timeline_notes.answer(exc)}
            settled = self.lane.settle(
                inflight, done=True, outcome="moot", ended=over, detail=detail
            )
            if settled is not Settled.LOST:
                log_refusal(command, exc, retries, what)
                report.moot(inflight.batch_id, command.name, self._args(inflight), what.why,
                            started=True)  # fmt: skip
            return settled is not Settled.IDLE
        letter = maybe_acted_on(what.letter, unknown_since)
        settled, accepted = self.lane.give_up(inflight, letter, exc)
        if not accepted and settled is not Settled.LOST:
            log_refusal(command, exc, retries, what)
            report.failed(inflight.batch_id, exc, dead_letter=letter.task_id)
        return settled is not Settled.IDLE

    def _args(self, inflight: Inflight) -> str:
        return report.command_args(self.conference_id, inflight.event_ids, inflight.names)


def ticket_of(inflight: Inflight) -> Ticket:
    """The command's place in the fleet's queue: its own id, its class, its event's time."""
    item = inflight.item
    return Ticket(inflight.batch_id, item.followup.goes_first, item.occurred_us // 1000)
