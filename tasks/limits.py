"""Between the Telnyx client and the fleet's pace and circuit (records/fleet.py): what each
answer says of Telnyx's limits, and which answers count as Telnyx failing."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping

from records.fleet import Answer, CircuitChange, Clearance, Fleet, Go, Ticket
from telnyx_api.errors import APIError, TelnyxError, TransportError

log = logging.getLogger(__name__)
# Waits for the fleet's pace, in all, up to this long are waited out on the sending thread; a
# longer wait gives the thread back (the caller hands it on: the lane to a later drain, a task
# to a retry), and the command keeps its place in the fleet's queue meanwhile. Far shorter than
# any lease the waiting thread holds (a lane's is more than two API timeouts). Short, too: a
# worker's threads are few, and a thread asleep here is one fewer for the commands that may go.
PACE_WAIT_SECONDS = 0.3

# The x-ratelimit-* headers of the last answer on this thread's current work.
_last: contextvars.ContextVar[tuple[int | None, int | None, float | None] | None] = (
    contextvars.ContextVar("telnyx_limits", default=None)
)


def record_rate_headers(headers: Mapping[str, str]) -> None:
    """Keep what an answer's headers say of the rate limit, for the fleet's reading of it.
    Called with every answer's headers (the client's on_response)."""
    _last.set(
        (_int(headers.get("x-ratelimit-limit")), _int(headers.get("x-ratelimit-remaining")),
         _float(headers.get("x-ratelimit-reset")))
    )  # fmt: skip


def clear_rate_headers() -> None:
    """Before a command: what an earlier answer said is not this one's."""
    _last.set(None)


def fleet_answer(exc: TelnyxError | None, sent: Go | None = None) -> Answer:
    """The fleet's reading of one command's outcome: Telnyx answered (any 2xx or 4xx but
    429: it is up), limited us (429), or failed (5xx, a timeout, no connection). `sent`: the
    fleet's word that let it go (when it went, by Redis's clock)."""
    limit, remaining, reset = _last.get() or (None, None, None)
    sent_ms = sent.at_ms if sent is not None and sent.now else None
    if isinstance(exc, APIError):
        reset = reset if reset is not None else exc.ratelimit_reset
        if exc.status_code == 429:
            return Answer("limited", limit, remaining, reset, exc.retry_after, sent_ms)
        if exc.status_code >= 500:
            return Answer("failed", limit, remaining, reset, sent_ms=sent_ms)
    elif isinstance(exc, TransportError):
        return Answer("failed", sent_ms=sent_ms)
    return Answer("answered", limit, remaining, reset, sent_ms=sent_ms)


def clearance(fleet: Fleet, owner: str, ticket: Ticket, first: Go | None = None) -> Go:
    """Ask the fleet whether a command may go, waiting out short pace waits (PACE_WAIT_SECONDS
    in all); what comes back either goes now or has a wait for the caller to hand on, the
    command's place in the queue kept under `ticket`. `first`: the fleet's answer the caller
    already has (a lane's pin asks in the same step)."""
    go = first if first is not None else fleet.ask(owner, ticket)
    budget = time.monotonic() + PACE_WAIT_SECONDS
    while not go.now and go.why is not Clearance.OPEN:
        if time.monotonic() + go.wait > budget:
            break
        time.sleep(go.wait)  # pacing to Telnyx's rate limit, not synchronising
        go = fleet.ask(owner, ticket)
    return go


def tell(fleet: Fleet, owner: str, exc: TelnyxError | None, sent: Go | None = None) -> None:
    """Tell the fleet how one command went (`sent`: the word that let it go); say so when
    the circuit opens or closes."""
    log_circuit_change(fleet.tell(owner, fleet_answer(exc, sent)), exc)


def log_circuit_change(changed: CircuitChange, exc: TelnyxError | None) -> None:
    """Log a change of the circuit (what Fleet.tell returns), with the error that caused it."""
    if changed is CircuitChange.OPENED:
        log.error("Telnyx is failing (%s): the fleet stops sending, and probes one command at a "
                  "time until it answers", exc)  # fmt: skip
    elif changed is CircuitChange.CLOSED:
        log.warning("Telnyx answers again: the circuit is closed; the fleet sends at its pace")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
