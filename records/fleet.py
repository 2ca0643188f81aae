"""Telnyx's limits, kept for the whole fleet in Redis: one pace for every worker's commands, and
one circuit for outages. Every decision is taken by Redis's clock (TIME, inside the scripts), so a
worker whose clock is off neither shuts the others out nor lets itself through.

The pace: each command that goes is counted in the fleet's log of sends (`tcw:fleet:sent`);
one goes when fewer than Telnyx's limit went in the last window. The limit is what Telnyx says
in `x-ratelimit-limit`; the window is the longest `x-ratelimit-reset` it has given (whole
seconds, Telnyx's rate-limiting page says; at least one). Each window is counted MARGIN_MS
longer than Telnyx's, so that commands counted in one window by Redis's clock do not reach
Telnyx in the next: at most the limit arrives in any window of Telnyx's, fixed or sliding.
`x-ratelimit-remaining` is not used to reopen room: the log holds the commands still in flight,
which Telnyx's count does not. A 429 stops the fleet until its Retry-After or reset.
TELNYX_MAX_COMMANDS_PER_SECOND caps it further. Until Telnyx's limit is known (at start, after
this state is lost, after the circuit closes) the fleet goes at a start rate.

Waiting is fair: a command told to wait takes a place in the fleet's queue, whichever worker it
is on, and then goes only when there is room for it and every command ahead of it. The queue
goes in order of class, then of the command's event: recordings first (Ticket.first), then the
oldest. A command that does not ask again in time (by its due time plus QUEUE_GRACE_MS) loses
its place, so a worker that died holds nobody up for long.

The circuit opens when Telnyx fails CIRCUIT_FAILURES times in a row (5xx, timeouts, connection
errors: not 4xx, which are the caller's). While open, nothing is sent but one probe at a time,
at growing intervals (1 s doubling to 30 s); the first answer closes it.

Soft state only: losing it (a restart, a failover, a flush) loses no action, only what was
learned, which the next answers teach again. Keys: `tcw:fleet` (hash), `tcw:fleet:probe`,
`tcw:fleet:sent`, `tcw:fleet:queue`, `tcw:fleet:queue:due`, `tcw:fleet:queue:since`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from core.naming import KEY_PREFIX
from records import scripts
from records.metrics import METRICS
from records.replies import text

FLEET = f"{KEY_PREFIX}fleet"
PROBE = f"{KEY_PREFIX}fleet:probe"
SENT = f"{KEY_PREFIX}fleet:sent"
WAITING = f"{KEY_PREFIX}fleet:queue"
WAITING_DUE = f"{KEY_PREFIX}fleet:queue:due"
WAITING_SINCE = f"{KEY_PREFIX}fleet:queue:since"
# The fleet's keys by the names the scripts give them (the lane scripts' too).
KEYS = {
    "fleet": FLEET, "probe": PROBE, "fleet_sent": SENT, "fleet_queue": WAITING,
    "fleet_due": WAITING_DUE, "fleet_since": WAITING_SINCE, "metrics": METRICS,
}  # fmt: skip
# Failures in a row that open the circuit.
CIRCUIT_FAILURES = 5
# The first probe after opening, and the longest interval between probes (ms).
FIRST_PROBE_MS = 1000
LONGEST_PROBE_MS = 30000
# What the fleet's state expires after when nothing uses it.
TTL_SECONDS = 3600
# Commands a second before Telnyx's limit is known: few enough for any account's limit, so
# that a fleet that has lost what it learned does not send a burst past it.
START_PER_SECOND = 10
# Added to each of Telnyx's windows: how far apart two commands' ways to Telnyx may differ.
MARGIN_MS = 100
# How late a waiting command may ask again and keep its place.
QUEUE_GRACE_MS = 2000
# A command's class in the queue: FIRST goes before NORMAL. Each class spans CLASS_SPAN of the
# queue's scores (lib/fleet_ask.lua's FLEET_CLASS), ordered within it by the event's time (ms).
FIRST, NORMAL = 0, 1
CLASS_SPAN = 10**13

# The fleet's two steps (lib/fleet_ask.lua, lib/fleet_tell.lua) also run inside the lane
# scripts (records/lane_store.py), so that a lane's command asks the fleet in the round trip that
# pins it and tells it in the one that settles it.
_ASK = scripts.load("fleet/ask")
_TELL = scripts.load("fleet/tell")
_COUNT = scripts.load("fleet/count")


class Clearance(enum.StrEnum):
    """Why a command may go, or must wait (fleet_ask's reply)."""

    GO = "go"
    PROBE = "probe"  # go, as the open circuit's one probe
    OPEN = "open"  # wait: Telnyx is down
    PACED = "paced"  # wait: its rate limit
    CAPPED = "capped"  # wait: ours (TELNYX_MAX_COMMANDS_PER_SECOND)


class CircuitChange(enum.StrEnum):
    """What one answer did to the circuit (fleet_tell's reply)."""

    NONE = ""
    OPENED = "opened"
    CLOSED = "closed"


@dataclass(frozen=True)
class Ticket:
    """A command's place in the fleet's queue: `id` names it (the same each time it asks),
    `first` puts it in the first class (recordings), `since_ms` (its event's time, ms since the
    epoch; None: when it first asks) orders it within its class."""

    id: str
    first: bool = False
    since_ms: int | None = None

    @property
    def priority(self) -> str:
        return "first" if self.first else "normal"


@dataclass(frozen=True)
class Go:
    """The answer to "may this command go now?": wait 0 (go, maybe as the circuit's probe), or
    how long to wait and why. `at_ms`: when the fleet decided, by Redis's clock (for a command
    that goes, when it went); `ahead`: commands waiting ahead of it."""

    wait: float
    why: Clearance
    at_ms: int | None = None
    ahead: int = 0

    @property
    def now(self) -> bool:
        return self.wait <= 0

    @classmethod
    def of(cls, reply: Sequence[Any]) -> Go:
        """From fleet_ask's answer: wait ms, why, now, ahead."""
        wait_ms, why, at_ms, ahead = reply
        return cls(int(wait_ms) / 1000, Clearance(text(why)), int(at_ms), int(ahead))


@dataclass(frozen=True)
class Answer:
    """What Telnyx's answer to one command says for the fleet. `sent_ms`: when the fleet let it
    go (Go.at_ms), None when not known."""

    outcome: str  # answered (any status but 429 and 5xx), limited (429), failed (5xx, timeout)
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None
    sent_ms: int | None = None


class Fleet:
    def __init__(
        self,
        client: redis.Redis,
        *,
        max_per_second: int | None = None,
        start_per_second: int = START_PER_SECOND,
        probe_lease_seconds: float = 30.0,
    ) -> None:
        self._redis = client
        self._cap = max_per_second
        self._start = start_per_second
        self._probe_ms = int(probe_lease_seconds * 1000)

    def ask(self, owner: str, ticket: Ticket | None = None, now: float | None = None) -> Go:
        """Whether a command may go now, counted in the pace if so. With a `ticket`, a command
        that waits keeps its place in the queue for when it asks again; without one (an extra
        request of a command already going), it goes only when nobody waits."""
        reply = _ASK.run(self._redis, keys=KEYS, args=self.ask_args(owner, ticket, now))
        return Go.of(reply)

    def count(self, owner: str, now: float | None = None) -> None:
        """Count a send that goes whatever the pace says (a resend of a command whose outcome
        is unknown, inside Telnyx's command_id window): it takes room in the window as any
        other send does."""
        keys = {"fleet": FLEET, "fleet_sent": SENT}
        _COUNT.run(self._redis, keys=keys,
                   args={"now_ms": _ms(now), "owner": owner, "margin_ms": MARGIN_MS})  # fmt: skip

    def tell(self, owner: str, answer: Answer, now: float | None = None) -> CircuitChange:
        """Learn from one answer; says whether the circuit opened or closed with it."""
        keys = {"fleet": FLEET, "probe": PROBE, "metrics": METRICS}
        reply = _TELL.run(self._redis, keys=keys, args=self.tell_args(owner, answer, now))
        return CircuitChange(text(reply))

    def ask_args(
        self, owner: str, ticket: Ticket | None = None, now: float | None = None
    ) -> dict[str, str | int | float]:
        """fleet/ask.lua's arguments (the lane scripts pass them too, as ask_<name>). `now`:
        for tests only; Redis's clock decides otherwise."""
        return {
            "now_ms": _ms(now),
            "owner": owner,
            "ticket": ticket.id if ticket else "",
            "class": (FIRST if ticket.first else NORMAL) if ticket else NORMAL,
            "since_ms": _opt(ticket.since_ms if ticket else None),
            "cap": self._cap or "",
            "start": self._start,
            "probe_ms": self._probe_ms,
            "ttl": TTL_SECONDS,
            "grace_ms": QUEUE_GRACE_MS,
            "margin_ms": MARGIN_MS,
        }

    def tell_args(
        self, owner: str, answer: Answer, now: float | None = None
    ) -> dict[str, str | int | float]:
        """fleet/tell.lua's arguments (the lane scripts pass them too, as tell_<name>)."""
        return {
            "now_ms": _ms(now),
            "outcome": answer.outcome,
            "limit": _opt(answer.limit),
            "reset": _opt(answer.reset),
            "retry_after": _opt(answer.retry_after),
            "sent_ms": _opt(answer.sent_ms),
            "owner": owner,
            "ttl": TTL_SECONDS,
            "failures": CIRCUIT_FAILURES,
            "first_probe_ms": FIRST_PROBE_MS,
            "longest_probe_ms": LONGEST_PROBE_MS,
            "margin_ms": MARGIN_MS,
        }


def read_view(pipe: Pipeline) -> None:
    """Queue on `pipe` the reads of what /metrics shows of the fleet (`view` makes it of their
    answers, the last answers of the pipeline's)."""
    pipe.hgetall(FLEET)
    pipe.zcard(SENT)
    pipe.zcount(WAITING, "-inf", f"({(FIRST + 1) * CLASS_SPAN}")  # (the first class's)
    pipe.zcard(WAITING)


def view(answers: Sequence[Any]) -> dict[str, str]:
    """What the fleet learned and its circuit (its hash), the sends counted in the window, and
    the commands waiting, by class: `read_view`'s answers, in order."""
    state, sent, first, waiting = answers
    shown = {text(k): text(v) for k, v in state.items()}
    shown.update(
        sent=str(sent), waiting_first=str(first), waiting_normal=str(int(waiting) - int(first))
    )
    return shown


def _ms(now: float | None) -> str | int:
    """'' for Redis's clock, else a test's fixed one in ms."""
    return "" if now is None else round(now * 1000)


def _opt(value: float | int | None) -> str | float | int:
    return "" if value is None else value
