"""Redis fails over: a primary, a replica and three Sentinels, all real redis-server processes;
the primary is SIGKILLed in the middle of a stream of webhooks that are redelivered the way
Telnyx redelivers them (anything but 200 is sent again)."""

from __future__ import annotations

from testkit import scenarios


def test_a_primary_killed_mid_stream_loses_and_doubles_nothing_acknowledged() -> None:
    # Given REDIS_MIN_REPLICAS=1: nothing is answered 200 before a replica holds it
    outcome = scenarios.primary_failover(conferences=8, joins=4, min_replicas=1)
    print(outcome)
    # (Counted once the work had settled, not while a slow drain was still at it.)
    assert not any("still queued" in note for note in outcome.notes), outcome
    # Then every event ever answered 200 led to exactly one command
    assert outcome.acknowledged == outcome.sent, outcome
    assert outcome.expected > 0
    assert outcome.lost == 0, outcome
    assert outcome.duplicated == 0, outcome
    assert outcome.delivered == outcome.expected, outcome
    assert outcome.dead_lettered == 0, outcome
    # and while the primary was gone ingest answered 503 (Telnyx redelivers), never a 500,
    # then came back by itself (every delivery was eventually answered 200, above)
    assert not any("other than 503" in note for note in outcome.notes), outcome
    assert any("503" in note for note in outcome.notes), outcome
