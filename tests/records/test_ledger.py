from __future__ import annotations

import threading

import pytest
import redis

from records.journal import Journal
from records.ledger import Begin, Ledger
from records.metrics import METRICS
from records.replication import Replication, ReplicationShortfall
from testkit.harness import wait


def test_first_claim_wins_and_done_is_final(redis_client: redis.Redis) -> None:
    ledger = Ledger(redis_client, lease_seconds=30)
    assert ledger.begin("a1", "w1") == (Begin.CLAIMED, 0.0)
    state, wait = ledger.begin("a1", "w2")
    assert state is Begin.BUSY
    assert 29 < wait <= 30
    ledger.finish("a1")
    assert ledger.begin("a1", "w2") == (Begin.DONE, 0.0)
    assert ledger.is_done("a1")


def test_the_owner_may_claim_again(redis_client: redis.Redis) -> None:
    ledger = Ledger(redis_client)
    assert ledger.begin("a1", "w1")[0] is Begin.CLAIMED
    assert ledger.begin("a1", "w1")[0] is Begin.CLAIMED


def test_release_frees_the_claim_for_others_only_by_its_owner(redis_client: redis.Redis) -> None:
    ledger = Ledger(redis_client)
    ledger.begin("a1", "w1")
    ledger.release("a1", "w2")
    assert ledger.begin("a1", "w2")[0] is Begin.BUSY
    ledger.release("a1", "w1")
    assert ledger.begin("a1", "w2")[0] is Begin.CLAIMED


def test_a_lapsed_claim_can_be_taken(redis_client: redis.Redis) -> None:
    # Given a claim whose holder died: its lease runs out
    Ledger(redis_client, lease_seconds=0.05).begin("a1", "w1")
    assert wait(lambda: not redis_client.exists("tcw:claim:a1"), timeout=5)
    # Then another worker can take it
    assert Ledger(redis_client).begin("a1", "w2")[0] is Begin.CLAIMED


def test_concurrent_claims_have_one_winner(redis_client: redis.Redis) -> None:
    ledger = Ledger(redis_client)
    results: list[Begin] = []
    barrier = threading.Barrier(20)

    def claim(n: int) -> None:
        barrier.wait()
        results.append(ledger.begin("race", f"w{n}")[0])

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Begin.CLAIMED) == 1
    assert results.count(Begin.BUSY) == 19


def test_done_records_expire(redis_client: redis.Redis) -> None:
    Ledger(redis_client, done_ttl_seconds=3600).finish("a1")
    assert 3590 < redis_client.ttl("tcw:done:a1") <= 3600


def test_finish_waits_for_replicas_and_says_when_they_fell_short(
    redis_client: redis.Redis,
) -> None:
    # Given one replica required, and a Redis with none
    ledger = Ledger(redis_client, replication=Replication(1, timeout_seconds=0.05))
    # When an action is finished, the record is written but not confirmed
    with pytest.raises(ReplicationShortfall):
        ledger.finish("act-1", counters=["c"], deadline_seconds=0.5)
    assert ledger.is_done("act-1")
    # and its counters were counted once, however often the wait was tried again
    assert redis_client.hget(METRICS, "c") == b"1"


def test_journal_complete_waits_for_replicas(redis_client: redis.Redis) -> None:
    journal = Journal(redis_client, replication=Replication(1, timeout_seconds=0.05))
    journal.publish("t-1", b"{}")
    with pytest.raises(ReplicationShortfall):
        journal.complete("t-1")
    assert journal.pending() == 0  # done on the primary; only the confirmation is missing
