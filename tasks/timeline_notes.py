"""The entries a worker puts on a conference's timeline (records/timeline.py), each passed to
the lane script whose step it describes and written only once that step stands. Ids, kinds,
Telnyx's answers; caller data (names) only under `caller`."""

from __future__ import annotations

from typing import Any

from followups.lane_policy import Drop, Inflight, LaneItem
from records.deadletters import DeadLetter
from records.timeline import note
from tasks.send import task_name
from telnyx_api.errors import APIError, TelnyxError


def planned(event_id: str, event_type: str, items: list[LaneItem]) -> str:
    """What the rules planned for an event: each follow-up's action id, command and rule."""
    actions = [{"id": i.action_id, "action": task_name(i.followup), "rule": i.followup.rule}
               for i in items]  # fmt: skip
    names = [i.followup.announce.name for i in items if i.followup.announce]
    caller = {"names": [n for n in names if n]} if any(names) else None
    return note("planned", event_id=event_id, type=event_type, actions=actions, caller=caller)


def merged(inflight: Inflight) -> str:
    """One command covering several events' follow-ups ('' for a command of one)."""
    if len(inflight.action_ids) < 2:
        return ""
    return command("merged", inflight, events=inflight.event_ids)


def command(kind: str, inflight: Inflight, **fields: Any) -> str:
    """An entry about the command in flight: its batch, every action it covers."""
    return note(kind, batch=inflight.batch_id, action=task_name(inflight.item.followup),
                actions=inflight.action_ids, **fields)  # fmt: skip


def answer(exc: TelnyxError) -> dict[str, Any]:
    """Telnyx's answer to an attempt: HTTP status, codes and titles, request id (never the
    detail, which may quote the request)."""
    if not isinstance(exc, APIError):
        return {"error": type(exc).__name__}
    return {
        "status": exc.status_code,
        "codes": list(exc.codes),
        "title": "; ".join(e.title for e in exc.errors if e.title) or None,
        "request_id": exc.request_id,
    }


def attempt_failed(inflight: Inflight, exc: TelnyxError, attempt: int, retry_in: float) -> str:
    return command("attempt_failed", inflight, attempt=attempt, retry_in=round(retry_in, 2),
                   **answer(exc))  # fmt: skip


def wait(why: str, seconds: float, inflight: Inflight | None = None) -> str:
    """The lane waits: for the fleet's pace or circuit, a late created, spacing, a claim."""
    if inflight is not None:
        return command("wait", inflight, why=why, seconds=round(seconds, 2))
    return note("wait", why=why, seconds=round(seconds, 2))


def dropped(step: Drop) -> str:
    return note("dropped", outcome=step.outcome, why=step.reason,
                actions=[i.action_id for i in step.items],
                events=[i.event_id for i in step.items])  # fmt: skip


def dead_letter(inflight: Inflight, letter: DeadLetter, exc: TelnyxError | None = None) -> str:
    """A command given up on: Telnyx's refusal (`exc`), or why we gave up (our own words: too
    old, its outcome unknown). The letter's error text is left out for a refusal: it quotes
    Telnyx's detail, which may quote the request."""
    if exc is not None:
        return command("dead_letter", inflight, reason=letter.reason, **answer(exc))
    return command("dead_letter", inflight, reason=letter.reason, error=letter.error)
