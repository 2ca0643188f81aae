"""The fleet's pace and circuit on a real Redis: what Telnyx's answers teach, and what the next
command may do."""

from __future__ import annotations

import redis

from records.fleet import CIRCUIT_FAILURES, FLEET, Answer, Fleet

T = 1_800_000_000.0  # a fixed clock, in seconds


def test_with_nothing_learned_every_command_goes(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    assert all(fleet.ask("w", T + i / 100).now for i in range(100))


def test_the_pace_follows_the_windows_telnyx_describes(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    # Telnyx says: 5 a window, 4 left, the window ends in 0.5 s
    fleet.tell("w", Answer("answered", limit=5, remaining=4, reset=0.5), T)
    # The 4 left go (in flight counts: they are taken before Telnyx answers them)...
    assert [fleet.ask("w", T + 0.01).now for _ in range(5)] == [True] * 4 + [False]
    # ... the next waits for the window's end
    go = fleet.ask("w", T + 0.1)
    assert go.why == "paced"
    assert abs(go.wait - 0.4) < 0.01
    # ... and a new window is full again, its end one window later
    assert [fleet.ask("w", T + 0.6).now for _ in range(6)] == [True] * 5 + [False]
    assert abs(fleet.ask("w", T + 0.7).wait - 0.8) < 0.01


def test_a_429_stops_the_whole_fleet_until_telnyx_says(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    fleet.tell("w1", Answer("limited", limit=60, remaining=0, reset=0.3, retry_after=2), T)
    for worker in ("w1", "w2", "w3"):
        go = fleet.ask(worker, T + 0.5)
        assert go.why == "paced"
        assert abs(go.wait - 1.5) < 0.01
    assert fleet.ask("w2", T + 2.1).now
    assert redis_client.hget("tcw:metrics", "telnyx_rate_limited_total") == b"1"


def test_a_cap_of_ours_limits_the_fleet_a_second(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client, max_per_second=3)
    assert [fleet.ask("w", T + 0.1).now for _ in range(4)] == [True, True, True, False]
    assert fleet.ask("w", T + 1.1).now


def test_failures_in_a_row_open_the_circuit_one_probe_at_a_time_until_telnyx_answers(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, probe_lease_seconds=10)
    # A 4xx is the caller's fault: it never opens the circuit
    for _ in range(CIRCUIT_FAILURES * 2):
        fleet.tell("w", Answer("answered"), T)
    for _ in range(CIRCUIT_FAILURES):
        changed = fleet.tell("w", Answer("failed"), T)
    assert changed == "opened"
    # Open: nobody sends until the first probe's time...
    go = fleet.ask("w", T + 0.5)
    assert (go.why, round(go.wait, 3)) == ("open", 0.5)
    # ... then one worker probes, the others wait for it
    assert fleet.ask("w1", T + 1.0).why == "probe"
    assert fleet.ask("w2", T + 1.0).why == "open"
    # A failed probe: the next one later (the interval doubles)
    assert fleet.tell("w1", Answer("failed"), T + 1.1) == ""
    assert abs(fleet.ask("w2", T + 1.2).wait - 1.9) < 0.01
    assert fleet.ask("w2", T + 3.1).why == "probe"
    # The probe answered: closed, everyone sends, and the time open is counted
    assert fleet.tell("w2", Answer("answered"), T + 3.2) == "closed"
    assert fleet.ask("w1", T + 3.3).now
    assert float(redis_client.hget("tcw:metrics", "telnyx_circuit_open_seconds_total")) > 3
    assert b"state" not in redis_client.hgetall(FLEET)


def test_losing_the_state_loses_nothing_but_what_was_learned(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("w", Answer("failed"), T)
    assert not fleet.ask("w", T + 0.1).now
    redis_client.delete(FLEET)  # a flush, a failover to a replica that had none of it
    assert fleet.ask("w", T + 0.2).now
