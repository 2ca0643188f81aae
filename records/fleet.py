"""Telnyx's limits, kept for the whole fleet in Redis: one pace for every worker's commands, and
one circuit for outages.

The pace follows what Telnyx says on every answer: `x-ratelimit-limit` commands per window,
`x-ratelimit-remaining` left in it, `x-ratelimit-reset` seconds until it renews. Each command
takes one of the remaining before it is sent (counting those in flight, which Telnyx has not
answered yet); with none left, every worker waits for the window's end. A 429 stops the fleet
until its Retry-After or reset. TELNYX_MAX_COMMANDS_PER_SECOND caps it further.

The circuit opens when Telnyx fails CIRCUIT_FAILURES times in a row (5xx, timeouts, connection
errors: not 4xx, which are the caller's). While open, nothing is sent but one probe at a time,
at growing intervals (1 s doubling to 30 s); the first answer closes it.

Soft state only: losing it (a restart, a failover, a flush) loses no action, only what was
learned, which the next answers teach again. Key: `tcw:fleet` (hash), `tcw:fleet:probe`.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import redis

from core.naming import KEY_PREFIX
from records import scripts
from records.metrics import METRICS
from records.replies import text

FLEET = f"{KEY_PREFIX}fleet"
PROBE = f"{KEY_PREFIX}fleet:probe"
# Failures in a row that open the circuit.
CIRCUIT_FAILURES = 5
# The first probe after opening, and the longest interval between probes (ms).
FIRST_PROBE_MS = 1000
LONGEST_PROBE_MS = 30000
# What the fleet's state expires after when nothing uses it.
TTL_SECONDS = 3600

# The fleet's two steps (lib/fleet_ask.lua, lib/fleet_tell.lua) also run inside the lane
# scripts (records/lane_store.py), so that a lane's command asks the fleet in the round trip that
# pins it and tells it in the one that settles it.
_ASK = scripts.load("fleet/ask")
_TELL = scripts.load("fleet/tell")


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
class Go:
    """The answer to "may this command go now?": wait 0 (go, maybe as the circuit's probe), or
    how long to wait and why."""

    wait: float
    why: Clearance

    @property
    def now(self) -> bool:
        return self.wait <= 0

    @classmethod
    def of(cls, wait_ms: object, why: object) -> Go:
        """From fleet_ask's answer."""
        return cls(int(wait_ms) / 1000, Clearance(text(why)))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Answer:
    """What Telnyx's answer to one command says for the fleet."""

    outcome: str  # answered (any status but 429 and 5xx), limited (429), failed (5xx, timeout)
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None


class Fleet:
    def __init__(
        self,
        client: redis.Redis,
        *,
        max_per_second: int | None = None,
        probe_lease_seconds: float = 30.0,
    ) -> None:
        self._redis = client
        self._cap = max_per_second
        self._probe_ms = int(probe_lease_seconds * 1000)

    def ask(self, owner: str, now: float | None = None) -> Go:
        """Whether a command may go now, taking one of the remaining commands if so."""
        wait_ms, why = _ASK.run(
            self._redis, keys={"fleet": FLEET, "probe": PROBE}, args=self.ask_args(owner, now)
        )
        return Go.of(wait_ms, why)

    def tell(self, owner: str, answer: Answer, now: float | None = None) -> CircuitChange:
        """Learn from one answer; says whether the circuit opened or closed with it."""
        keys = {"fleet": FLEET, "probe": PROBE, "metrics": METRICS}
        reply = _TELL.run(self._redis, keys=keys, args=self.tell_args(owner, answer, now))
        return CircuitChange(text(reply))

    def ask_args(self, owner: str, now: float | None = None) -> dict[str, str | int | float]:
        """fleet/ask.lua's arguments (the lane scripts pass them too, as ask_<name>)."""
        return {
            "now_ms": _ms(now),
            "owner": owner,
            "cap": self._cap or "",
            "probe_ms": self._probe_ms,
            "ttl": TTL_SECONDS,
        }

    def tell_args(
        self, owner: str, answer: Answer, now: float | None = None
    ) -> dict[str, str | int | float]:
        """fleet/tell.lua's arguments (the lane scripts pass them too, as tell_<name>)."""
        return {
            "now_ms": _ms(now),
            "outcome": answer.outcome,
            "limit": _opt(answer.limit),
            "remaining": _opt(answer.remaining),
            "reset": _opt(answer.reset),
            "retry_after": _opt(answer.retry_after),
            "owner": owner,
            "ttl": TTL_SECONDS,
            "failures": CIRCUIT_FAILURES,
            "first_probe_ms": FIRST_PROBE_MS,
            "longest_probe_ms": LONGEST_PROBE_MS,
        }


def _ms(now: float | None) -> int:
    return int((time.time() if now is None else now) * 1000)


def _opt(value: float | int | None) -> str | float | int:
    return "" if value is None else value
