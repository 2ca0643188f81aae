"""A bulk replay acts on the letters as the operator's filter chose them: one written again
since it was listed (another replay's outcome, say: sent again, no answer, outcome unknown)
is left alone, whether it goes back through its lane or as a task of its own."""

from __future__ import annotations

import dataclasses

import redis

from followups.followup import FollowUp
from followups.lane_policy import LaneItem, Timing
from records.deadletters import DeadLetter, DeadLetters, Replayed
from records.lane_store import LaneStore
from tasks.replay import replay_one

C = "conf-1"
TIMING = Timing(settle_ms=0, spacing_ms=0, max_age_ms=900_000, wants_created=False)


def _refused(item: str | None) -> DeadLetter:
    return DeadLetter(
        task_id="a1", task="conference.record_start", args=[C, {}, {}], reason="rejected",
        error="HTTP 403", status=403, codes=["10010"], conference_id=C if item else None,
        item=item,
    )  # fmt: skip


def _unknown(letter: DeadLetter) -> DeadLetter:
    return dataclasses.replace(
        letter, reason="outcome_unknown", status=None, codes=[], error="no answer"
    )


def test_a_lane_letter_written_again_since_it_was_listed_is_left_alone(
    redis_client: redis.Redis,
) -> None:
    followup = FollowUp("conference", "record_start", C, {"format": "mp3", "command_id": "a1"})
    item = LaneItem("a1", followup, "e1", "conference.created", None, 10**15)
    store, lanes = (
        DeadLetters(redis_client),
        LaneStore(redis_client, lease_seconds=5, done_ttl_seconds=3600),
    )
    listed = _refused(item.to_json())
    store.add(listed)
    store.add(_unknown(listed))  # (written again after the listing)
    assert replay_one(store, lanes, listed, TIMING, dry_run=False)[0] is Replayed.GONE
    kept = store.get("a1")
    assert kept is not None
    assert kept.reason == "outcome_unknown"


def test_a_task_letter_written_again_since_it_was_listed_is_left_alone(
    redis_client: redis.Redis,
) -> None:
    store = DeadLetters(redis_client)
    listed = _refused(None)
    store.add(listed)
    store.add(_unknown(listed))
    assert replay_one(store, LaneStore(redis_client, lease_seconds=5, done_ttl_seconds=3600), listed, TIMING,
                      dry_run=False)[0] is Replayed.GONE  # fmt: skip
    kept = store.get("a1")
    assert kept is not None
    assert kept.reason == "outcome_unknown"
    # while the letter as it is now replays
    assert store.replay_task("a1", listed=kept) is Replayed.REPLAYED
