"""The fleet's pace, queue and circuit on a real Redis: what Telnyx's answers teach, and what the
next command may do. (Most tests give the scripts a fixed clock; the fleet itself uses Redis's.)"""

from __future__ import annotations

import time

import pytest
import redis

from records.fleet import (
    CIRCUIT_FAILURES,
    FLEET,
    MARGIN_MS,
    QUEUE_GRACE_MS,
    SENT,
    WAITING,
    Answer,
    Fleet,
    Ticket,
)

T = 1_800_000_000.0  # a fixed clock, in seconds
SPAN = 1 + MARGIN_MS / 1000  # a one-second window as the fleet counts it


def _gos(fleet: Fleet, at: float, count: int, ticket: Ticket | None = None) -> list[bool]:
    return [fleet.ask("w", ticket, at).now for _ in range(count)]


def _learned(fleet: Fleet, limit: int, reset: float = 1, at: float = T) -> None:
    fleet.tell("w", Answer("answered", limit=limit, remaining=limit - 1, reset=reset), at)


def test_before_telnyx_says_its_limit_the_fleet_goes_at_its_start_rate(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, start_per_second=10)
    assert _gos(fleet, T, 11) == [True] * 10 + [False]
    go = fleet.ask("w", None, T + 0.5)
    assert go.why == "paced"
    assert go.wait == pytest.approx(SPAN - 0.5, abs=0.002)
    assert _gos(fleet, T + SPAN, 11) == [True] * 10 + [False]


def test_a_send_that_goes_whatever_the_pace_says_takes_room_in_the_window(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, start_per_second=1)
    _learned(fleet, 5, reset=2)
    assert _gos(fleet, T, 4) == [True] * 4
    # A resend of an unknown outcome goes at once, counted (Telnyx counts it too)...
    fleet.count("w", T + 0.1)
    # ...so the window is full for those who ask after it, until its sends leave
    assert _gos(fleet, T + 0.2, 1) == [False]
    assert redis_client.zcard(SENT) == 5
    assert redis_client.pttl(SENT) > 2000  # kept for the window learned, not the start's 1 s
    assert _gos(fleet, T + 2 + MARGIN_MS / 1000 + 0.01, 1) == [True]


def test_the_pace_follows_telnyx_s_limit_and_window(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client, start_per_second=1)
    # Telnyx says: 5 a window, whose end is in 1 s (whole seconds, as its page says)
    _learned(fleet, 5)
    assert _gos(fleet, T + 0.01, 3) == [True] * 3
    assert _gos(fleet, T + 0.5, 3) == [True, True, False]
    # Room comes back as each send leaves the window (the margin added)
    assert _gos(fleet, T + 0.01 + SPAN, 4) == [True] * 3 + [False]
    # A longer reset teaches a longer window
    _learned(fleet, 5, reset=3, at=T + 2)
    assert redis_client.hget(FLEET, "window") == b"3000"


def test_commands_in_flight_are_not_forgotten_when_telnyx_s_window_turns(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client)
    _learned(fleet, 10)
    assert _gos(fleet, T + 0.9, 10) == [True] * 10
    # The first answer comes from Telnyx's next window: 9 left, reset in 1 s. The nine sent
    # after it are still on their way: nothing reopens until they leave the fleet's window.
    fleet.tell("w", Answer("answered", limit=10, remaining=9, reset=1), T + 1.01)
    assert _gos(fleet, T + 1.02, 3) == [False] * 3
    assert _gos(fleet, T + 0.9 + SPAN, 11) == [True] * 10 + [False]


def test_a_worker_s_own_clock_decides_nothing(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two workers 0.7 s apart, under a cap of 5 a second: every decision by Redis's clock
    fleet = Fleet(redis_client, max_per_second=5, start_per_second=100)
    real = time.time
    offsets = iter([0.4, -0.3] * 10)
    monkeypatch.setattr(time, "time", lambda: real() + next(offsets))
    went = sum(fleet.ask(f"w{i % 2}").now for i in range(20))
    assert went == 5
    redis_now = redis_client.time()
    latest = max(score for _, score in redis_client.zrange(SENT, 0, -1, withscores=True))
    assert abs(latest / 1000 - (redis_now[0] + redis_now[1] / 1e6)) < 1


def test_a_429_stops_the_whole_fleet_until_telnyx_says(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    sent = fleet.ask("w1", None, T)
    fleet.tell("w1", Answer("limited", 60, 0, 1, retry_after=2, sent_ms=sent.at_ms), T + 0.05)
    for worker in ("w1", "w2", "w3"):
        go = fleet.ask(worker, None, T + 0.5)
        assert go.why == "paced"
        assert go.wait == pytest.approx(1.55, abs=0.002)
    assert fleet.ask("w2", None, T + 2.1).now
    assert redis_client.hget("tcw:metrics", "telnyx_rate_limited_total") == b"1"


def test_a_429_that_comes_back_after_its_window_is_over_pauses_nobody(
    redis_client: redis.Redis,
) -> None:
    # (A worker that stalled between the answer and telling the fleet.)
    fleet = Fleet(redis_client)
    sent = fleet.ask("slow", None, T)
    fleet.tell("slow", Answer("limited", 60, 0, 1, retry_after=1, sent_ms=sent.at_ms), T + 5)
    assert fleet.ask("w", None, T + 5.01).now
    assert redis_client.hget("tcw:metrics", "telnyx_rate_limited_total") == b"1"


def test_a_cap_of_ours_limits_the_fleet_in_any_second(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client, max_per_second=3, start_per_second=100)
    assert _gos(fleet, T + 0.9, 4) == [True, True, True, False]
    go = fleet.ask("w", None, T + 1.2)
    assert (go.why, go.wait) == ("capped", pytest.approx(0.7, abs=0.002))
    assert fleet.ask("w", None, T + 1.9).now


def test_a_waiting_command_keeps_its_place_in_the_queue(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client, start_per_second=2)
    assert fleet.ask("w", None, T).now
    assert fleet.ask("w", None, T + 0.5).now
    early, late = (
        Ticket("early", since_ms=int(T * 1000)),
        Ticket("late", since_ms=int(T * 1000) + 5),
    )
    # The first waits for the first send to leave the window; the second for both
    assert fleet.ask("w", early, T + 0.6).wait == pytest.approx(SPAN - 0.6, abs=0.002)
    go = fleet.ask("w", late, T + 0.7)
    assert (go.ahead, go.wait) == (1, pytest.approx(0.5 + SPAN - 0.7, abs=0.002))
    # Room for one: the later one, asking first, waits for the earlier, which is due now...
    assert not fleet.ask("w", late, T + SPAN + 0.01).now
    # ... and so does an extra request (no ticket), behind both
    assert not fleet.ask("w", None, T + SPAN + 0.01).now
    assert fleet.ask("w", early, T + SPAN + 0.02).now
    assert fleet.ask("w", late, T + 0.5 + SPAN + 0.01).now
    assert redis_client.zcard(WAITING) == 0


def test_room_is_not_kept_idle_for_a_command_that_is_not_back_yet(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, start_per_second=1)
    assert fleet.ask("w", None, T).now
    early, late = Ticket("early", since_ms=1), Ticket("late", since_ms=2)
    assert fleet.ask("w", early, T + 0.1).wait == pytest.approx(SPAN - 0.1, abs=0.002)
    redis_client.delete(SENT)  # (room, sooner than the earlier one was told)
    # The later one, here now, takes it; the earlier is first when it is back
    assert fleet.ask("w", late, T + 0.2).now
    go = fleet.ask("w", early, T + SPAN)
    assert (go.now, go.ahead) == (False, 0)
    assert fleet.ask("w", Ticket("later still", since_ms=3), T + 0.2 + SPAN).ahead == 1
    assert fleet.ask("w", early, T + 0.2 + SPAN + 0.001).now


def test_a_waiting_command_that_does_not_come_back_loses_its_place(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, start_per_second=1)
    assert fleet.ask("w", None, T).now
    gone = fleet.ask("w", Ticket("gone"), T + 0.1)  # (its worker dies)
    assert not gone.now
    other = Ticket("other")
    assert not fleet.ask("w", other, T + 0.2).now
    # Past the first one's due time and grace, the other goes
    after = T + 0.1 + gone.wait + QUEUE_GRACE_MS / 1000 + 0.01
    assert fleet.ask("w", other, after).now


def test_recordings_go_before_the_rest_when_the_fleet_is_paced(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, start_per_second=2)
    assert _gos(fleet, T, 2) == [True, True]
    announcement = Ticket("speak", first=False, since_ms=int(T * 1000) - 60_000)
    recording = Ticket("record", first=True, since_ms=int(T * 1000))
    assert fleet.ask("w", announcement, T + 0.1).ahead == 0
    # The recording, though its event is newer, goes ahead of the announcement
    assert fleet.ask("w", recording, T + 0.2).ahead == 0
    assert fleet.ask("w", announcement, T + 0.3).ahead == 1
    # With room for both, the announcement still waits while the recording does
    redis_client.delete(SENT)
    assert not fleet.ask("w", announcement, T + 0.4).now
    assert fleet.ask("w", recording, T + 0.5).now
    assert fleet.ask("w", announcement, T + 0.6).now
    metrics = redis_client.hgetall("tcw:metrics")
    assert metrics[b'telnyx_pace_waits_total{priority="first"}'] == b"1"
    assert metrics[b'telnyx_pace_waits_total{priority="normal"}'] == b"1"
    assert float(metrics[b'telnyx_pace_wait_seconds_total{priority="normal"}']) == pytest.approx(
        0.5
    )


def test_losing_the_fleet_s_hash_sends_no_burst(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client, start_per_second=10)
    _learned(fleet, 50)
    assert sum(_gos(fleet, T, 60)) == 50
    redis_client.delete(FLEET)  # an eviction, a hand-made flush
    # What went in this window still counts: nothing more goes until it leaves
    assert sum(_gos(fleet, T + 0.5, 60)) == 0
    # Then the start rate, until Telnyx's answers teach the limit again
    assert sum(_gos(fleet, T + SPAN, 60)) == 10


def test_failures_in_a_row_open_the_circuit_one_probe_at_a_time_until_telnyx_answers(
    redis_client: redis.Redis,
) -> None:
    fleet = Fleet(redis_client, probe_lease_seconds=10, start_per_second=100)
    _learned(fleet, 60)
    # A 4xx is the caller's fault: it never opens the circuit
    for _ in range(CIRCUIT_FAILURES * 2):
        fleet.tell("w", Answer("answered"), T)
    for _ in range(CIRCUIT_FAILURES):
        changed = fleet.tell("w", Answer("failed"), T)
    assert changed == "opened"
    # Open: nobody sends until the first probe's time...
    go = fleet.ask("w", None, T + 0.5)
    assert (go.why, round(go.wait, 3)) == ("open", 0.5)
    # ... then one worker probes, the others wait for it
    assert fleet.ask("w1", None, T + 1.0).why == "probe"
    assert fleet.ask("w2", None, T + 1.0).why == "open"
    # A failed probe: the next one later (the interval doubles)
    assert fleet.tell("w1", Answer("failed"), T + 1.1) == ""
    assert fleet.ask("w2", None, T + 1.2).wait == pytest.approx(1.9, abs=0.002)
    assert fleet.ask("w2", None, T + 3.1).why == "probe"
    # The probe answered: closed, and the time open is counted
    answer = Answer("answered", limit=60, remaining=59, reset=1)
    assert fleet.tell("w2", answer, T + 3.2) == "closed"
    assert float(redis_client.hget("tcw:metrics", "telnyx_circuit_open_seconds_total")) > 3
    assert b"state" not in redis_client.hgetall(FLEET)
    # ... and the fleet starts again at its start rate, not all at once; the answers after
    # the close teach the limit again
    assert b"limit" not in redis_client.hgetall(FLEET)
    assert sum(_gos(fleet, T + 3.3, 200)) == 100 - 1
    _learned(fleet, 60, at=T + 3.4)
    assert redis_client.hget(FLEET, "limit") == b"60"


def test_losing_the_state_loses_nothing_but_what_was_learned(redis_client: redis.Redis) -> None:
    fleet = Fleet(redis_client)
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("w", Answer("failed"), T)
    assert not fleet.ask("w", None, T + 0.1).now
    redis_client.delete(FLEET)  # a flush, a failover to a replica that had none of it
    assert fleet.ask("w", None, T + 0.2).now
