"""Telnyx's limits, respected by the fleet (records/fleet.py): real Redis, real worker
processes, the local Telnyx API with its rate limit and outage switch."""

from __future__ import annotations

import time

from records.deadletters import DeadLetters
from sandbox.events import client_state, encode, make_event
from testkit import fleet_scenarios
from testkit.harness import FAST_RECOVERY, Cluster, wait


def test_two_workers_share_one_pace_under_the_rate_limit() -> None:
    outcome = fleet_scenarios.rate_limited(conferences=600, limit=60, workers=2)
    # Every action once, hardly ever refused, near the limit
    assert outcome.accepted == 600, outcome
    assert outcome.repeated == 0, outcome
    assert outcome.share_429 <= 0.02, outcome
    assert outcome.accepted_per_second >= 51, outcome
    assert outcome.dead_lettered == 0, outcome


def _assert_rode_out(outcome: fleet_scenarios.FleetOutcome) -> None:
    # Every recording started once, soon after Telnyx came back; nothing given up on
    assert outcome.accepted == outcome.conferences, outcome
    assert outcome.repeated == 0, outcome
    assert outcome.dead_lettered == 0, outcome
    assert outcome.seconds_to_recover < 60, outcome
    # At most one attempt per waiting action while Telnyx was down
    assert outcome.attempts_during_outage <= outcome.conferences, outcome


def test_an_outage_longer_than_the_retry_count_loses_nothing() -> None:
    # (The harness's retry count, 40 with backoff capped at 0.5 s, runs out in about 20 s.)
    assert (
        int(FAST_RECOVERY["TASK_MAX_RETRIES"]) * float(FAST_RECOVERY["RETRY_BACKOFF_MAX_SECONDS"])
        < 30
    )
    _assert_rode_out(fleet_scenarios.outage(conferences=40, seconds=30))


def test_an_outage_with_a_worker_sigkilled_in_it_loses_nothing() -> None:
    _assert_rode_out(fleet_scenarios.outage(conferences=40, seconds=30, kill_a_worker=True))


def test_an_announcement_too_old_after_an_outage_is_dead_lettered_as_expired() -> None:
    with Cluster(env={"ANNOUNCE_MAX_AGE_SECONDS": "10"}) as cluster:
        cluster.api.state.outage = True
        cluster.add_worker()
        conference = "conf-expiring"
        events = [
            make_event("conference.created", conference_id=conference),
            make_event(
                "conference.participant.joined",
                conference_id=conference,
                client_state=client_state({"name": "Ada"}),
            ),
        ]
        assert all(cluster.deliver([encode(e) for e in events]))
        time.sleep(12)  # the outage's length: past the announcement's 10 s
        cluster.api.state.outage = False
        # The recording still matters and is sent; the announcement is given up on
        assert wait(lambda: cluster.api.state.accepted_commands >= 1, 60)
        client = cluster.redis()
        try:
            store = DeadLetters(client)
            assert wait(lambda: store.count() == 1, 60)
            [letter] = store.list()
            assert letter.reason == "expired"
            assert letter.task == "conference.speak"
        finally:
            client.close()
        assert [r.action for r in cluster.api.state.commands()] == ["record_start"]
