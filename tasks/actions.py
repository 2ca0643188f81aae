"""The per-action tasks (`call.speak`, `conference.record_start`, ...): each sends one follow-up
that is not in a conference's lane, or one replayed from a dead letter, exactly once.

A task's id is derived from its event and follow-up, so each is retried on its own and
recorded in the ledger under a stable name. It sends through tasks/send.py, and carries out what
a refusal comes to through Celery's retry and the ledger:
- sent and accepted -> recorded done; a later copy of the task stops at the ledger;
- transient failure (timeout, 408, 409, 429, 5xx) -> retried with capped, jittered backoff,
  honouring Retry-After / x-ratelimit-reset, then dead-lettered when retries run out;
- Telnyx says the call or conference is over (422 90018/90019, ...) -> logged, dropped;
- any other refusal -> dead-lettered at once, for an operator to look at and replay;
- the event is older than EVENT_MAX_AGE_SECONDS -> not acted on;
- Telnyx failing (the fleet's circuit open) or the fleet's rate limit paused -> waits, spending
  no attempt; so does a copy of the task that finds another sending it;
- Redis unreachable mid-task -> the task waits for it (up to half the visibility timeout) and
  carries on where it was; past that it is rejected back to the queue. It never fails into an
  acknowledgement, which would drop the message.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from celery import Task, shared_task
from celery.exceptions import Ignore, Reject, Retry

from core.logs import log_context
from core.naming import call_task, conference_task
from followups.followup import goes_first
from records.fleet import Ticket
from records.ledger import Begin
from records.messages import ETA_CLOCK, REDIS_CLOCK
from records.metrics import field
from tasks import limits, report, runtime
from tasks.command_retries import CommandRetries
from tasks.outcomes import through_redis_outage
from tasks.send import (
    Command,
    Moot,
    TryAgain,
    age_seconds,
    command_name,
    dead_letter,
    event_time,
    log_refusal,
    refused,
    send,
)
from telnyx_api.client import CALL_ACTIONS, CONFERENCE_ACTIONS
from telnyx_api.errors import TelnyxError
from telnyx_api.resources import CommandResult

# A plain logger (not Celery's task logger, which has handlers of its own): its lines go
# through the process's formatter, with the ids of the work in the context.
log = logging.getLogger(__name__)
# The context key in which an action task's message counts its waits for another copy's claim.
CLAIM_WAITS = "claim_waits"


def followup_argsrepr(kind: str, target: str, context: dict[str, Any]) -> str:
    """What Flower shows instead of the arguments: ids, never spoken text or caller data."""
    return f"{kind}={target} event={context.get('event_id')}"[:300]


def perform(
    task: Task[Any, Any],
    kind: str,
    action: str,
    target: str,
    params: dict[str, Any],
    context: dict[str, Any],
) -> dict[str, Any]:
    """Run one follow-up exactly once; see the module docstring for every outcome."""
    # Its id derived from the event and the follow-up, and kept across retries and
    # redeliveries. (Its dead letter's context counts no waits: a replay starts afresh.)
    replayed = {k: v for k, v in context.items() if k != CLAIM_WAITS}
    command = Command(str(task.request.id), kind, action, target, params, replayed)
    attempt = _Attempt(task, command, context)
    ids = {"conference_id" if kind == "conference" else "call_control_id": target}
    with log_context(
        task_id=str(task.request.id),
        action=f"{kind}.{action}",
        event_id=context.get("event_id"),
        event_type=context.get("event_type"),
        **ids,
    ):
        return _perform_logged(task, attempt, context, command.where)


def _perform_logged(
    task: Task[Any, Any], attempt: _Attempt, context: dict[str, Any], where: str
) -> dict[str, Any]:
    try:
        outcome = through_redis_outage(attempt.run, where)
    except (Retry, Reject, Ignore):
        raise
    except Exception as exc:  # the task boundary: a bug must not loop for ever
        log.exception("%s: unexpected error", where)
        error = f"{type(exc).__name__}: {exc}"
        letter = dead_letter(attempt.command, "error", error, failed_attempts(task, context))
        through_redis_outage(lambda: runtime.current().dead_letters.add(letter), where)
        outcome = {"status": "dead_lettered", "error": error}
    # Every outcome above is final for this task: nothing left for the journal to recover.
    # (A sent action's finish() has already done it, and counted it, in one Redis step.)
    status = str(outcome.get("status"))
    if status != "sent":
        through_redis_outage(lambda: _complete(attempt.command, status), where)
    # Flower shows each ending as what it is (tasks/report.py): a refusal as a failure, a
    # command that became moot as revoked, with why.
    if status == "dead_lettered":
        task_id = str(task.request.id)
        raise CommandFailed(
            f"{outcome.get('error', '')}; dead letter {task_id} "
            f"(replay: conference-worker dead-letters replay {task_id})"
        )
    if status in ("moot", "expired"):
        command = attempt.command
        args = followup_argsrepr(command.kind, command.target, context)
        report.moot(str(task.request.id), command.name, args, str(outcome.get("why")),
                    started=True)  # fmt: skip
        raise Ignore()
    return outcome


class CommandFailed(Exception):
    """A command Telnyx refused for good, or given up on: what Flower shows as its failure."""


class CommandRetry(Exception):
    """Why a command is tried again, and when: what Flower shows as its retry's reason."""


def _complete(command: Command, outcome: str) -> None:
    rt = runtime.current()
    rt.journal.complete(command.id)
    rt.metrics.incr("telnyx_actions_total", {"action": command.name, "outcome": outcome})


@dataclass
class _Attempt:
    """One execution of a follow-up task. `run` may be called again after a Redis outage and
    picks up where it stopped: a command Telnyx accepted is never sent a second time."""

    task: Task[Any, Any]
    command: Command
    context: dict[str, Any]  # as the task's message has it (with its waits counted)
    result: CommandResult | None = None

    def __post_init__(self) -> None:
        self.owner = uuid.uuid4().hex
        self.retries: CommandRetries | None = None

    def run(self) -> dict[str, Any]:
        rt, command = runtime.current(), self.command
        if self.result is None:
            early = self._send(rt)
            if early is not None:
                return early
        sent = field("telnyx_actions_total", {"action": command.name, "outcome": "sent"})
        rt.ledger.finish(
            command.id, counters=[sent], latency=age_seconds(self.context.get("occurred_at"))
        )
        log.info("%s: %s", command.where, self.result.result if self.result else "ok")
        done = {"status": "sent", "result": self.result.result if self.result else ""}
        hedged = self.retries.hedged if self.retries else None
        return {**done, "hedged": hedged} if hedged else done

    def _send(self, rt: runtime.Runtime) -> dict[str, Any] | None:
        command, where = self.command, self.command.where
        # (By Redis's clock, as a lane reads its items' ages: one age rule for the fleet.)
        age = age_seconds(self.context.get("occurred_at"), rt.clock.now())
        if age is not None and age > rt.settings.event_max_age_seconds:
            log.warning("%s: event is %.0fs old; not acted on", where, age)
            return {"status": "expired", "why": f"the event is {age:.0f}s old"}
        state, wait = rt.ledger.begin(command.id, self.owner)
        if state is Begin.DONE:
            log.info("%s: already done; not sent again", where)
            return {"status": "duplicate"}
        if state is Begin.BUSY:
            # Another copy of this task is sending it now; look again when its claim lapses.
            self._wait(rt, wait + 0.5)
        go = limits.clearance(rt.fleet, self.owner, ticket_of(command))
        if not go.now:
            # Telnyx down (the circuit is open), or a 429's pause: wait, spending no attempt.
            rt.ledger.release(command.id, self.owner)
            log.info("%s: waiting for Telnyx (%s), %.1fs", where, go.why, go.wait)
            self._wait(rt, go.wait)
        try:
            self.retries = rt.retries(self.owner, command.where)
            self.result = send(rt.client, command, retries=self.retries)
        except TelnyxError as exc:
            limits.tell(rt.fleet, self.owner, exc, go)
            rt.ledger.release(command.id, self.owner)
            return _on_error(self.task, command, exc, self.context)
        limits.tell(rt.fleet, self.owner, None, go)
        return None

    def _wait(self, rt: runtime.Runtime, seconds: float) -> NoReturn:
        """Run again in `seconds`, without spending an attempt. Celery counts this as a retry
        too; the message counts the waits, so that only failed attempts spend the retry
        budget (failed_attempts)."""
        command = self.command
        rt.journal.touch(command.id, seconds)
        waits = {**self.context, CLAIM_WAITS: int(self.context.get(CLAIM_WAITS, 0)) + 1}
        # (celery-types does not list retry's **options, which go to apply_async.)
        raise self.task.retry(  # type: ignore[call-arg]
            args=(command.target, command.params, waits),
            **due_in(rt, seconds),
            argsrepr=followup_argsrepr(command.kind, command.target, self.context),
            kwargsrepr="{}",
        )


def due_in(rt: runtime.Runtime, seconds: float) -> dict[str, Any]:
    """A retry's options that make it due in `seconds` by Redis's clock, whichever worker's
    clock reads it (tasks/base.py): its ETA, and the header that says whose clock that is."""
    return {"eta": rt.clock.eta(seconds), "headers": {ETA_CLOCK: REDIS_CLOCK}}


def _on_error(
    task: Task[Any, Any], command: Command, exc: TelnyxError, context: dict[str, Any]
) -> dict[str, Any]:
    """Carry out what is to be done about a refused command: Celery retries it (after a
    failed attempt, counted against the retry budget), or the task ends here."""
    retries = failed_attempts(task, context)
    what = refused(command, exc, retries)
    # (A call task's outcome is its own: nothing to wait for before saying it.)
    log_refusal(command, exc, retries, what)
    if isinstance(what, TryAgain):
        runtime.current().journal.touch(command.id, what.delay)
        runtime.current().metrics.incr(
            "telnyx_actions_total", {"action": command.name, "outcome": "retried"}
        )
        # argsrepr: Celery would otherwise show the full arguments of the retry in Flower.
        reason = CommandRetry(f"{report.describe(exc)}; next attempt in {what.delay:.1f}s")
        raise task.retry(  # type: ignore[call-arg]
            exc=reason,
            **due_in(runtime.current(), what.delay),
            argsrepr=followup_argsrepr(command.kind, command.target, context),
            kwargsrepr="{}",
        )
    if isinstance(what, Moot):
        return {"status": "moot", "codes": list(what.codes), "why": what.why}
    runtime.current().dead_letters.add(what.letter)
    return {"status": "dead_lettered", "codes": list(what.codes), "error": report.describe(exc)}


def failed_attempts(task: Task[Any, Any], context: dict[str, Any]) -> int:
    """The task's failed attempts so far: Celery's retries, less those that only waited for
    another copy's claim."""
    return max(task.request.retries - int(context.get(CLAIM_WAITS, 0)), 0)


def _register(kind: str, action: str) -> Task[Any, Any]:
    name = command_name(kind, action)

    # max_retries=None: the retry budget is ours (TASK_MAX_RETRIES), checked in _on_error
    # against failed attempts only, so waiting on another worker's claim does not use it up.
    @shared_task(name=name, bind=True, max_retries=None)
    def run(
        self: Task[Any, Any], target: str, params: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        return perform(self, kind, action, target, params, context)

    return run


ACTION_TASKS: dict[str, Task[Any, Any]] = {
    **{conference_task(a): _register("conference", a) for a in CONFERENCE_ACTIONS},
    **{call_task(a): _register("call", a) for a in CALL_ACTIONS},
}


def ticket_of(command: Command) -> Ticket:
    """The command's place in the fleet's queue: its own id, its class (its rule's priority,
    else its action's), its event's time."""
    first = goes_first(command.action, command.context.get("priority"))
    when = event_time(command.context.get("occurred_at"))
    return Ticket(command.id, first, int(when.timestamp() * 1000) if when else None)
