"""What the fleet scenarios measure, and the counting they share: the API's limit as the
sandbox tells it, the requests it received, the dead letters left."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from records.deadletters import DeadLetter, DeadLetters
from sandbox.api.ratelimit import Rounding, Window
from sandbox.api.recorded import RecordedRequest
from sandbox.api.state import FakeTelnyx
from sandbox.events import make_event
from testkit.harness import Cluster


@dataclass
class FleetOutcome:
    scenario: str
    conferences: int
    attempts: int = 0  # action requests the API received
    rate_limited: int = 0  # of which answered 429
    accepted: int = 0  # record_starts accepted (a repeated command_id counted once)
    repeated: int = 0  # accepted again under a command_id already accepted
    accepted_per_second: float = 0.0  # from the first acceptance to the last
    attempts_during_outage: int = 0
    seconds_to_recover: float = 0.0  # from the outage's end to the last recording started
    dead_lettered: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class Limit:
    """The API's rate limit and how it is told (sandbox/api/ratelimit.py)."""

    per_second: int
    window: Window = Window.FIXED
    rounding: Rounding = Rounding.UP
    retry_after: bool = True

    def apply(self, state: FakeTelnyx) -> None:
        state.rate_window = self.window
        state.reset_rounding = self.rounding
        state.retry_after_on_429 = self.retry_after
        state.rate_limit = self.per_second

    def __str__(self) -> str:
        retry = "" if self.retry_after else ", no Retry-After"
        return (
            f"{self.per_second} commands/s ({self.window} windows, reset rounded "
            f"{self.rounding}{retry})"
        )


def created(conferences: int) -> list[dict[str, Any]]:
    return [make_event("conference.created") for _ in range(conferences)]


def first_accepted(requests: list[RecordedRequest], action: str) -> list[RecordedRequest]:
    """The accepted requests of `action`, a repeated command_id left out."""
    return [r for r in requests if r.action == action and 200 <= r.status < 300 and not r.duplicate]


def count_requests(cluster: Cluster, outcome: FleetOutcome) -> list[RecordedRequest]:
    requests = [r for r in cluster.api.state.requests() if r.action]
    outcome.attempts = len(requests)
    outcome.rate_limited = sum(r.status == 429 for r in requests)
    accepted = [r for r in requests if r.action == "record_start" and 200 <= r.status < 300]
    first_time = [r for r in accepted if not r.duplicate]
    outcome.accepted = len(first_time)
    outcome.repeated = len(accepted) - len(first_time)
    outcome.dead_lettered = len(dead_letters(cluster))
    return first_time


def dead_letters(cluster: Cluster) -> list[DeadLetter]:
    client = cluster.redis()
    try:
        store = DeadLetters(client)
        return store.list(limit=max(store.count(), 1))
    finally:
        client.close()
