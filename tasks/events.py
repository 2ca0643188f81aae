"""The event task: `telnyx.handle_event` turns one webhook into its follow-ups (planned by the
rules in force) and queues each where it goes.

A conference's events put theirs in the conference's lane, sent one at a time in event order
by the lane's drain (tasks/drain.py); an event that finds its lane idle becomes its drain and
runs it on its own thread at once. Any other follow-up is queued as its own task (`call.speak`,
...: tasks/actions.py) with a task id derived from the event, so each is retried on its own and
recorded in the ledger under a stable name.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task
from pydantic import ValidationError

from core.logs import add_to_context, log_context
from core.naming import HANDLE_EVENT, followup_task_id, inline_drain_id
from followups.followup import FollowUp
from followups.lane_policy import LEFT, LaneItem, occurred_us
from records.lane_answers import Taken
from records.messages import celery_message
from tasks import runtime, timeline_notes
from tasks.actions import followup_argsrepr
from tasks.drain import run_drain
from tasks.lane_hold import drain_message
from tasks.outcomes import through_redis_outage
from tasks.send import task_name
from telnyx_api.events import Envelope, Event

# A plain logger (not Celery's task logger, which has handlers of its own): its lines go
# through the process's formatter, with the ids of the work in the context.
log = logging.getLogger(__name__)


@shared_task(name=HANDLE_EVENT, bind=True, max_retries=None)
def handle_event(self: Task[Any, Any], body: str) -> str:
    # Planning is idempotent (follow-ups are queued under fixed task ids), so after a Redis
    # outage it simply runs again.
    task_id = str(self.request.id)
    where = f"event task {task_id}"
    # This run's token, should it drain its conference's lane (the same across a Redis
    # outage's retries of the step below, which may have taken the lane's lease already).
    owner = uuid.uuid4().hex
    with log_context(task_id=task_id):
        handled = through_redis_outage(lambda: _handle_event(body, task_id, owner), where)
        if handled.lane is not None:
            # This event made itself its conference's drain: send on this thread, now. (Each
            # command sent is a Flower entry of its own: tasks/report.py.)
            run_drain(*handled.lane, owner, handled.taken)
    if not handled.complete:
        through_redis_outage(lambda: runtime.current().journal.complete(task_id), where)
    return handled.result


@dataclass(frozen=True)
class _Handled:
    # What Flower shows as the task's result: the event, and where each follow-up went. One
    # string: Celery writes out every task's result (saferepr) whether or not anyone looks,
    # and a nested one cost a measurable share of the worker's CPU per event.
    result: str
    # (conference id, drain id) when this task is to drain the lane, and its first take of it.
    lane: tuple[str, str] | None = None
    taken: Taken | None = None
    # Whether the event's message is complete already (the lane's step did it).
    complete: bool = False


def _handle_event(body: str, task_id: str, owner: str) -> _Handled:
    try:
        event = Envelope.model_validate_json(body).data
    except ValidationError as exc:
        # Ingest validated it; a body that fails here came from elsewhere or an older version.
        log.error("dropping an invalid event body: %s", exc.errors(include_input=False)[:3])
        return _Handled("invalid")
    add_to_context(
        event_id=event.id, event_type=event.event_type, conference_id=event.conference_id
    )
    followups = runtime.current().plan(event)
    names = [f.action for f in followups] or "no follow-up"
    if in_lane(event, followups):
        # (The same step completes this task's message: its follow-ups are in the lane.)
        added, drain_id, taken = add_to_lane(event, followups, owner=owner, complete=task_id)
        # Where each follow-up went, the same way every time (Flower shows it as the result).
        went = "queued in its lane" if added else "duplicate (already queued or done)"
        # One line at INFO per outcome: each follow-up's own (sent, retried, dropped...);
        # an event that calls for nothing has this one.
        log.log(_level(followups), "event %s %s: %s, in its conference's lane",
                event.event_type, event.id, names)  # fmt: skip
        lane = (str(event.conference_id), drain_id) if drain_id is not None else None
        result = _result(event, [f"{task_name(f)}: {went}" for f in followups])
        return _Handled(result, lane, taken, complete=True)
    context = {
        "event_id": event.id,
        "event_type": event.event_type,
        "occurred_at": event.when.isoformat() if event.when else None,
    }
    queued = [f"{task_name(f)}: queued as task {_queue_followup(f, context)}" for f in followups]
    log.log(_level(followups), "event %s %s: %s", event.event_type, event.id, names)
    return _Handled(_result(event, queued))


def _result(event: Event, went: list[str]) -> str:
    return f"{event.event_type} {event.id}: {'; '.join(went) or 'no follow-up'}"


def _level(followups: list[FollowUp]) -> int:
    """An event's own line is its outcome only when it calls for nothing."""
    return logging.DEBUG if followups else logging.INFO


def _queue_followup(followup: FollowUp, context: dict[str, Any]) -> str:
    """Queue a follow-up as its own task; returns its task id."""
    name = task_name(followup)
    task_id = followup_task_id(context["event_id"], followup.key)
    if followup.priority is not None:
        context = {**context, "priority": followup.priority}
    message = celery_message(
        name,
        task_id,
        [followup.target, followup.params, context],
        followup_argsrepr(followup.kind, followup.target, context),
    )
    runtime.current().journal.publish(task_id, message)
    return task_id


# Events that change what a lane knows even when the rules call for nothing on them.
LANE_EVENTS = frozenset({"conference.created", "conference.ended", LEFT})


def in_lane(event: Event, followups: list[FollowUp]) -> bool:
    """Whether an event goes through its conference's lane."""
    return event.conference_id is not None and (bool(followups) or event.event_type in LANE_EVENTS)


def add_to_lane(
    event: Event,
    followups: list[FollowUp],
    *,
    owner: str | None = None,
    complete: str | None = None,
) -> tuple[int, str | None, Taken | None]:
    """Put an event's follow-ups in its conference's lane (once, whatever the redeliveries).
    Returns how many were added (0: all queued or done already), and a drain id when the lane
    had no drain: the caller is its drain now, and runs it
    (`run_drain`) on its own thread, saving a task message. If the caller dies, the broker
    redelivers its event task, which finds the lane still waiting for this drain and runs it
    (the journal would queue the drain's message later).

    With `owner` and `complete` (the event task's run and its task id), in the same Redis step
    the event task's message is complete and, for a drain id, the lane is taken for that run
    (its lease taken, the lane read): returned, for `run_drain` to start from."""
    conference_id = str(event.conference_id)
    rt = runtime.current()
    lanes = rt.lanes
    now_ms = int(rt.clock.now() * 1000)
    when = occurred_us(event.when, now_ms)
    at = event.when.isoformat() if event.when else None
    items = [
        LaneItem(followup_task_id(event.id, f.key), f, event.id, event.event_type, at, when)
        for f in followups
    ]
    call_control_id = getattr(getattr(event, "payload", None), "call_control_id", None)
    left = (call_control_id, when) if event.event_type == LEFT and call_control_id else None
    drain = drain_message(conference_id, task_id=inline_drain_id(event.id))
    entries = [(i.action_id, i.score, i.to_json()) for i in items]
    note = timeline_notes.planned(event.id, event.event_type, items) if items else ""
    if owner is not None and complete is not None:
        added, taken = lanes.append_and_take(
            conference_id, entries, event_type=event.event_type, drain=drain, owner=owner,
            complete=complete, left=left, now_ms=now_ms, note=note,
        )  # fmt: skip
        return added, drain[0] if taken is not None else None, taken
    added, _, current = lanes.append(
        conference_id,
        entries,
        event_type=event.event_type,
        drain=drain,
        left=left,
        now_ms=now_ms,
        inline=True,
        note=note,
    )
    return added, drain[0] if current else None, None
