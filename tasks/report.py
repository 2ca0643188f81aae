"""What Flower shows of each command sent to Telnyx from a conference's lane.

A lane's commands are sent by its drain, not by tasks of their own, so each is reported to
Flower as a task of its own through Celery's task events (the same events a task's own run
sends): named for the action (`conference.record_start`, `conference.speak`, ...), with the
command's ledger id for task id and, for arguments, the conference id, the ids of every event
it covers and how many names it says (never the names). Its states are Celery's:

- STARTED for each attempt (Retries: the attempts before it);
- SUCCESS once Telnyx accepted it: the result holds Telnyx's request id, the command_id and the
  number of attempts;
- RETRY while it waits for another attempt: the reason has the status, Telnyx's error code and
  title, and when the next attempt comes;
- FAILURE when it is refused for good or given up on: the exception has Telnyx's status, code,
  title, detail and request id, and the dead letter's id with the command that replays it;
- REVOKED when it was not sent because it became moot: the exception says why (the conference
  ended, the participant left, the event was too old).

The events go out through the worker's own event dispatcher, and only while task events are on
(Flower switches them on when it connects): otherwise reporting costs a flag test.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from celery.utils.saferepr import saferepr

from records.fleet import Go
from telnyx_api.errors import APIError, TelnyxError

# The worker's event dispatcher (set by the worker's consumer step; None outside a worker).
_dispatcher: Any = None


def use_dispatcher(dispatcher: Any) -> None:
    """Called by the worker when its consumer's event dispatcher (re)starts."""
    global _dispatcher
    _dispatcher = dispatcher


def enabled() -> bool:
    """Whether task events go out now (cheap: a flag and a set)."""
    d = _dispatcher
    return d is not None and d.enabled and (not d.groups or "task" in d.groups)


def command_args(conference_id: str, event_ids: Sequence[str], names: int) -> str:
    """The arguments Flower shows for a command: ids and a count, no caller data."""
    return f"conference={conference_id} events={','.join(event_ids)} names={names}"


def attempt(task_id: str, name: str, args: str, attempt_number: int) -> None:
    """An attempt at sending the command starts (the first, or a retry)."""
    if not enabled():
        return
    _received(task_id, name, args, attempt_number - 1)
    _send("task-started", task_id, pid=0)


def accepted(
    task_id: str,
    *,
    request_id: str | None,
    command_id: str | None,
    attempts: int,
    started: float,
    hedged: str | None = None,
) -> None:
    if not enabled():
        return
    result: dict[str, Any] = {
        "request_id": request_id, "command_id": command_id, "attempts": attempts,
    }  # fmt: skip
    if hedged:
        # (Sent again, identical, for want of an answer: hedge_won says the request that
        # answered, `request_id`, is the second.)
        result["hedged"] = hedged
    _send("task-succeeded", task_id, result=saferepr(result), runtime=time.monotonic() - started)


def retrying(task_id: str, exc: TelnyxError, delay: float) -> None:
    if not enabled():
        return
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + delay))
    reason = f"{describe(exc)}; next attempt in {delay:.1f}s, at {when}"
    _send("task-retried", task_id, exception=reason, traceback="")


def waiting(task_id: str, name: str, args: str, attempts: int, go: Go, priority: str) -> None:
    """The command waits for Telnyx (its circuit open, or the fleet's rate limit): a RETRY
    that is no attempt. `priority`: its class in the fleet's queue."""
    if not enabled():
        return
    _received(task_id, name, args, attempts)
    why, delay = go.why, go.wait
    what = {"open": "Telnyx is failing: the circuit is open"}.get(why, f"the fleet is {why}")
    if why != "open":
        what += f", {go.ahead} commands ahead of it, priority {priority}"
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + delay))
    reason = f"waiting for Telnyx ({what}); next look in {delay:.1f}s, at {when}"
    _send("task-retried", task_id, exception=reason, traceback="")


def failed(task_id: str, exc: TelnyxError | str, dead_letter: str | None) -> None:
    if not enabled():
        return
    text = describe(exc) if isinstance(exc, TelnyxError) else exc
    if dead_letter:
        text += (
            f"; dead letter {dead_letter} "
            f"(replay: conference-worker dead-letters replay {dead_letter})"
        )
    _send("task-failed", task_id, exception=text, traceback="")


def moot(task_id: str, name: str, args: str, why: str, *, started: bool) -> None:
    """The command was not sent, and will not be: it became moot (`why`)."""
    if not enabled():
        return
    if not started:
        _received(task_id, name, args, 0)
    _send("task-revoked", task_id, terminated=False, signum=None, expired=False,
          exception=f"moot: {why}")  # fmt: skip


def describe(exc: TelnyxError) -> str:
    """Telnyx's answer in one line: status, then code, title and detail of each error, then
    the request id; or the transport failure."""
    if not isinstance(exc, APIError):
        return f"{type(exc).__name__}: {exc}"
    parts = [f"HTTP {exc.status_code}"]
    parts += [f"[{e.code}] {e.title}" + (f": {e.detail}" if e.detail else "") for e in exc.errors]
    parts.append(f"request id {exc.request_id or '-'}")
    return " ".join(parts)


def _received(task_id: str, name: str, args: str, retries: int) -> None:
    """What Flower builds an entry from: its name, arguments and attempts so far."""
    _send("task-received", task_id, name=name, args=args, kwargs="{}", retries=retries,
          root_id=task_id, parent_id=None, eta=None, expires=None)  # fmt: skip


def _send(event: str, task_id: str, **fields: Any) -> None:
    d = _dispatcher
    if d is None:
        return
    try:
        d.send(event, uuid=task_id, **fields)
    except Exception:  # noqa: BLE001 - what Flower shows must never break the work
        return
