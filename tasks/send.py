"""Sending one command to Telnyx, and what is to be done when Telnyx refuses it.

A conference lane's drain and a call's own task both send through here, and each carries out
the outcome its own way: the drain through its lane (a hand-over, or the command finished),
the task through Celery's retry and the ledger. What they share is here: the command and how
it is named, the request, the judgement of a refusal (tasks/outcomes.py) with its log lines,
the dead letter that replays a command as a task of its own, and the age of an event.

A refusal comes to one of three things:
- retry after a delay (a transient failure, while retries last);
- moot: Telnyx says the call or conference is over (422 90018/90019, ...), so it is dropped;
- give up: the command is dead-lettered, for an operator to look at and replay.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.naming import call_task, conference_task
from core.settings import TELNYX_COMMAND_WINDOW_SECONDS
from followups.followup import FollowUp
from records.deadletters import DeadLetter
from tasks import limits, report
from tasks.command_retries import CommandRetries
from tasks.outcomes import judge
from telnyx_api.client import TelnyxClient
from telnyx_api.deadlines import leaving_by
from telnyx_api.errors import APIError, ServerError, TelnyxError
from telnyx_api.hedging import hedging_as
from telnyx_api.resources import CommandResult

log = logging.getLogger(__name__)


def command_name(kind: str, action: str) -> str:
    """The task (and Flower entry, and metrics label) a command is named by: conference.speak."""
    return conference_task(action) if kind == "conference" else call_task(action)


def task_name(followup: FollowUp) -> str:
    """The task a follow-up is named by (see command_name)."""
    return command_name(followup.kind, followup.action)


@dataclass(frozen=True, slots=True)
class Command:
    """One command for Telnyx: what is sent, and the task that replays it from a dead letter
    (its id in the ledger, and its arguments: target, parameters and the event's context)."""

    id: str
    kind: str
    action: str
    target: str
    params: dict[str, Any]
    context: dict[str, Any]  # event_id, event_type and occurred_at of the event it is for

    @property
    def name(self) -> str:
        return command_name(self.kind, self.action)

    @property
    def where(self) -> str:
        """How log lines name it: conference.speak C (event E)."""
        return f"{self.kind}.{self.action} {self.target} (event {self.context.get('event_id')})"


def send(
    client: TelnyxClient,
    command: Command,
    *,
    leave_by: float | None = None,
    retries: CommandRetries | None = None,
) -> CommandResult:
    """Send the command; raises TelnyxError when Telnyx refuses it or cannot be reached.
    `leave_by` (time.monotonic()): it must be on its way by then, or not be sent at all (by
    default, inside the command_id window of a send that starts now).
    `retries`: a command with a command_id is hedged when Telnyx is slow, and sent again at
    once after a 5xx (tasks/command_retries.py)."""
    # What an earlier answer said of the rate limit is not this one's (tasks/limits.py).
    limits.clear_rate_headers()
    repeatable = retries if command.params.get("command_id") else None
    if leave_by is None:
        leave_by = time.monotonic() + TELNYX_COMMAND_WINDOW_SECONDS - 1
    with leaving_by(leave_by), hedging_as(repeatable.hedging() if repeatable else None):
        try:
            return _perform(client, command)
        except ServerError as exc:
            if repeatable is None or not repeatable.again_now(exc):
                raise
            log.warning("%s: %s; sent again at once, as Telnyx asks", command.where, exc)
            try:
                return _perform(client, command)
            except TelnyxError as again:
                # (Whether Telnyx may have acted: on either of the two.)
                again.may_have_acted = again.may_have_acted or exc.may_have_acted
                raise


def _perform(client: TelnyxClient, command: Command) -> CommandResult:
    if command.kind == "conference":
        return client.conferences.actions.perform(command.action, command.target, command.params)
    return client.calls.actions.perform(command.action, command.target, command.params)


@dataclass(frozen=True, slots=True)
class TryAgain:
    """Try the command again in `delay` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class Moot:
    """Not tried again: Telnyx says the call or conference is over (`why`, for Flower)."""

    why: str
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Not tried again: the command is dead-lettered (the caller stores `letter`)."""

    letter: DeadLetter
    codes: tuple[str, ...]


def refused(command: Command, exc: TelnyxError, retries: int) -> TryAgain | Moot | GiveUp:
    """What is to be done about a command Telnyx refused, or that never reached it, after
    `retries` failed attempts before this one. Says nothing: the caller logs it
    (log_refusal) once it has recorded it."""
    verdict = judge(exc, retries)
    if verdict.outcome == "retry":
        return TryAgain(verdict.delay)
    if verdict.outcome == "moot":
        return Moot(f"Telnyx says it is over: {report.describe(exc)}", verdict.codes)
    return GiveUp(dead_letter(command, verdict.reason, str(exc), retries, exc), verdict.codes)


def log_refusal(
    command: Command, exc: TelnyxError, retries: int, what: TryAgain | Moot | GiveUp
) -> None:
    """The one log line of what a refusal came to, the same however the command was sent."""
    where = command.where
    codes = ",".join(what.codes if not isinstance(what, TryAgain) else ()) or "-"
    if isinstance(what, TryAgain):
        log.warning("%s: %s; retry %d in %.1fs", where, exc, retries + 1, what.delay)
    elif isinstance(what, Moot):
        log.warning("%s: not retried (codes %s): %s", where, codes, exc)
    elif what.letter.reason == "retries_exhausted":
        log.error("%s: giving up after %d retries: %s", where, retries, exc)
    else:
        log.error("%s: not retried (codes %s): %s", where, codes, exc)


def dead_letter(
    command: Command, reason: str, error: str, retries: int, exc: TelnyxError | None = None
) -> DeadLetter:
    """A command's dead letter: its task, to replay it as one of its own."""
    return DeadLetter(
        task_id=command.id,
        task=command.name,
        args=[command.target, command.params, command.context],
        reason=reason,
        error=error[:1000],
        status=exc.status_code if isinstance(exc, APIError) else None,
        codes=list(exc.codes) if isinstance(exc, APIError) else [],
        retries=retries,
        event_id=command.context.get("event_id"),
    )


def age_seconds(occurred_at: str | None, now: float | None = None) -> float | None:
    """How long ago an event happened at `now` (epoch s; by default this host's clock's), by
    its occurred_at (ISO 8601, UTC unless it says otherwise); None without one, or with one
    that is not a time."""
    when = event_time(occurred_at)
    if when is None:
        return None
    return (time.time() if now is None else now) - when.timestamp()


def event_time(occurred_at: str | None) -> datetime | None:
    """An event's occurred_at as a time (UTC unless it says otherwise); None without one, or
    with one that is not a time."""
    if not occurred_at:
        return None
    try:
        when = datetime.fromisoformat(occurred_at)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
