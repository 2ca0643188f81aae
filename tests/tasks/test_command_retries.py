"""The fleet's word on a command's extra requests (tasks/command_retries.py), on a real Redis:
a hedge goes when the pace allows, waits its turn when it does not, and never goes while the
circuit is open; a 5xx is sent again at once only when the fleet allows one more."""

from __future__ import annotations

import redis

from records.fleet import CIRCUIT_FAILURES, Answer, Fleet
from records.metrics import Metrics
from tasks.command_retries import CommandRetries
from telnyx_api.errors import ServerError
from telnyx_api.hedging import HedgeReport


def _retries(client: redis.Redis, fleet: Fleet) -> CommandRetries:
    return CommandRetries(fleet, Metrics(client), "owner", "conference.speak C", 0.5)


def _clearance(retries: CommandRetries) -> float | None:
    hedging = retries.hedging()
    assert hedging is not None
    return hedging.clearance()


def test_a_hedge_goes_when_the_pace_allows(redis_client: redis.Redis) -> None:
    assert _clearance(_retries(redis_client, Fleet(redis_client))) == 0.0


def test_a_hedge_the_pace_holds_back_is_told_when_to_ask_again(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client)
    fleet.tell("w", Answer("limited", limit=10, remaining=0, reset=2, retry_after=2))
    wait = _clearance(_retries(redis_client, fleet))
    assert wait is not None
    assert 1 < wait <= 2


def test_no_hedge_while_the_circuit_is_open(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("w", Answer("failed"))
    assert _clearance(_retries(redis_client, fleet)) is None


def test_no_hedge_when_it_is_turned_off(redis_client: redis.Redis) -> None:
    off = CommandRetries(Fleet(redis_client), Metrics(redis_client), "o", "x", hedge_after=0)
    assert off.hedging() is None


def test_a_5xx_is_sent_again_at_once_only_while_the_circuit_stays_closed(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client)
    retries = _retries(redis_client, fleet)
    # One 5xx: told to the fleet, and one more may go
    assert retries.again_now(ServerError(500))
    # The 5xx that opens the circuit: none may
    for _ in range(CIRCUIT_FAILURES - 2):
        fleet.tell("w", Answer("failed"))
    assert not retries.again_now(ServerError(500))


def test_each_hedge_is_counted_by_how_it_ended(redis_client: redis.Redis) -> None:
    retries = _retries(redis_client, Fleet(redis_client))
    hedging = retries.hedging()
    assert hedging is not None
    hedging.on_end(HedgeReport("hedge_won", None, "req-2", 0.6))
    hedging.on_end(HedgeReport("first_won", "req-1", None, 0.7))
    assert retries.hedged == "first_won"  # (the send's own, for Flower's result)
    counted = redis_client.hgetall("tcw:metrics")
    assert counted[b'telnyx_command_hedges_total{outcome="hedge_won"}'] == b"1"
    assert counted[b'telnyx_command_hedges_total{outcome="first_won"}'] == b"1"
