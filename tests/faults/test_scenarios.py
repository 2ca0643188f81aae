"""Fault tests with real Redis, real worker processes and the local Telnyx API: each counts
exactly what the API received."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testkit import scenarios


def _assert_exact(outcome: scenarios.Outcome) -> None:
    assert outcome.acknowledged == outcome.sent, outcome
    assert outcome.expected > 0
    assert outcome.lost == 0, outcome
    assert outcome.delivered == outcome.expected, outcome
    assert outcome.dead_lettered == 0, outcome


def test_sigkill_a_worker_mid_burst_loses_nothing() -> None:
    outcome = scenarios.sigkill_worker(conferences=8, joins=4)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome


def test_sigterm_the_worker_group_loses_and_doubles_nothing() -> None:
    outcome = scenarios.sigterm_worker_group(conferences=8, joins=4)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome
    assert outcome.notes == [], outcome


def test_restarting_redis_loses_nothing_acknowledged() -> None:
    outcome = scenarios.restart_redis(conferences=8, joins=4)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome


def test_a_failing_api_still_gets_every_action_exactly_once() -> None:
    outcome = scenarios.failing_api(conferences=10, joins=4, ended=2)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome
    assert any(note.endswith("; 0 sent again after the 422") for note in outcome.notes), outcome


def test_triple_concurrent_out_of_order_delivery_acts_once_per_event() -> None:
    outcome = scenarios.redelivered_webhooks(conferences=8, joins=4)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome
    assert outcome.notes == [], outcome


@pytest.mark.parametrize(
    "scenario",
    [scenarios.sigkill_worker, scenarios.sigterm_worker_group, scenarios.restart_redis],
    ids=["sigkill", "sigterm", "redis-restart"],
)
def test_crowds_are_announced_once_each_through_faults(
    scenario: Callable[..., scenarios.Outcome],
) -> None:
    # Three conferences, each joined by 40 people at once: merged announcements, every
    # joiner covered once by name or by count, whatever the fault
    outcome = scenario(conferences=3, joins=40)
    _assert_exact(outcome)
    assert outcome.duplicated == 0, outcome
    assert outcome.announced == 120
    assert outcome.speaks < 60, outcome
