"""The fleet's pace and queue under any sequence of asks, answers, clock steps and lost state
(a hypothesis state machine on a real Redis, the scripts given a fixed clock that only moves
forward): its invariants hold after every step.

1. A command the fleet lets go never makes more than Telnyx's limit in its window as the fleet
   counts it (the window plus the margin), whatever was lost; a resend that goes whatever the
   pace says is counted among them, and leaves that much less room.
2. A command of the normal class never goes while a first-class one waits in the queue.
3. A command goes only if there is room left, after it, for every command ahead of it that is
   due to ask by now.
4. A command that waits is in the queue until it goes or lapses; one that went is not.
"""

from __future__ import annotations

import hypothesis.strategies as st
import redis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from records.fleet import (
    CLASS_SPAN,
    FLEET,
    MARGIN_MS,
    QUEUE_GRACE_MS,
    SENT,
    WAITING,
    WAITING_DUE,
    Answer,
    Fleet,
    Ticket,
)

LIMIT = 4
START = 3
T0 = 1_800_000_000_000  # ms
SPAN = 1000 + MARGIN_MS
TICKETS = [f"t{i}" for i in range(6)]


class FleetModel(RuleBasedStateMachine):
    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.fleet = Fleet(self.client, start_per_second=START)
        self.now = T0
        # When each command went, in order, and whether it went whatever the pace said.
        self.sends: list[tuple[int, bool]] = []
        self.waiting: set[str] = set()  # tickets told to wait, not gone since
        self.classes: dict[str, int] = {}
        self.fleet.tell("w", Answer("answered", limit=LIMIT, reset=1), self._s())

    def _s(self) -> float:
        return self.now / 1000

    @rule(ms=st.integers(min_value=0, max_value=1500))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(name=st.sampled_from(TICKETS), first=st.booleans(), age=st.integers(0, 5000))
    def ask(self, name: str, first: bool, age: int) -> None:
        # (A ticket keeps the class it first asked with, as a command's does.)
        first = self.classes.setdefault(name, 0 if first else 1) == 0
        before = self._live()
        ahead_due = self._ahead_due(name, first, self.now - age, before)
        go = self.fleet.ask("w", Ticket(name, first, self.now - age), self._s())
        if go.now:
            self.sends.append((self.now, False))
            self.waiting.discard(name)
            # Invariant 2
            if not first:
                assert not [t for t, s in before.items() if s < CLASS_SPAN], before
            # Invariant 3
            assert self._room() >= ahead_due, (name, self._room(), ahead_due)
        else:
            self.waiting.add(name)

    @rule()
    def extra_request(self) -> None:
        queued = self._live()
        if self.fleet.ask("w", None, self._s()).now:
            self.sends.append((self.now, False))
            assert self._room() >= len(queued)

    @rule()
    def resend(self) -> None:
        # (A command whose outcome is unknown, sent again inside Telnyx's command_id window.)
        self.fleet.count("w", self._s())
        self.sends.append((self.now, True))

    def _room(self) -> int:
        return LIMIT - sum(1 for at, _ in self.sends if at > self.now - SPAN)

    @rule(limited=st.booleans())
    def answer(self, limited: bool) -> None:
        outcome = "limited" if limited else "answered"
        self.fleet.tell("w", Answer(outcome, limit=LIMIT, reset=1, retry_after=1), self._s())

    @rule()
    def hash_lost(self) -> None:
        self.client.delete(FLEET)

    @precondition(lambda self: self.sends)
    @rule()
    def everything_lost(self) -> None:
        # (Then the start rate alone keeps the pace, from nothing counted: only the window's
        # sends before the loss can add to it, as the README says. The model starts counting
        # again.)
        self.client.flushdb()
        self.sends = [(at, forced) for at, forced in self.sends if at <= self.now - SPAN]
        self.waiting.clear()

    def _queue(self) -> dict[str, float]:
        return {
            (m.decode() if isinstance(m, bytes) else m): s
            for m, s in self.client.zrange(WAITING, 0, -1, withscores=True)
        }

    def _live(self) -> dict[str, float]:
        """The queue, less those that lapsed (past their due time and its grace): the next ask
        drops them."""
        due = self._due()
        return {
            name: score
            for name, score in self._queue().items()
            if due.get(name, 0) >= self.now - QUEUE_GRACE_MS
        }

    def _ahead_due(self, name: str, first: bool, since: int, queue: dict[str, float]) -> int:
        """Commands ahead of `name` in the queue that are due to ask by now (not lapsed)."""
        due = self._due()
        mine = queue.get(name, (0 if first else 1) * CLASS_SPAN + since)
        return sum(
            1
            for other, score in queue.items()
            if other != name
            and score < mine
            and self.now - QUEUE_GRACE_MS <= due.get(other, 0) <= self.now
        )

    def _due(self) -> dict[str, float]:
        return {
            (m.decode() if isinstance(m, bytes) else m): s
            for m, s in self.client.zrange(WAITING_DUE, 0, -1, withscores=True)
        }

    @invariant()
    def never_more_than_the_limit_in_a_window(self) -> None:
        # Invariant 1
        for i, (at, forced) in enumerate(self.sends):
            inside = sum(1 for other, _ in self.sends[: i + 1] if other > at - SPAN)
            assert forced or inside <= LIMIT, (at, self.sends)

    @invariant()
    def a_waiting_command_keeps_its_place_until_it_lapses(self) -> None:
        # Invariant 4
        queue, due = self._queue(), self._due()
        for name in self.waiting:
            lapsed = due.get(name, 0) < self.now - QUEUE_GRACE_MS
            assert name in queue or lapsed, (name, queue)
        assert set(queue) <= self.waiting, (queue, self.waiting)

    def teardown(self) -> None:
        self.client.delete(FLEET, SENT, WAITING, WAITING_DUE)


def test_the_fleet_keeps_its_invariants_in_any_sequence(redis_client: redis.Redis) -> None:
    FleetModel.client = redis_client
    run_state_machine_as_test(
        FleetModel,
        settings=settings(
            max_examples=200,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
