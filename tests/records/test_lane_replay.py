"""A lane's dead letter replayed through its lane (records/lua/lanes/replay.lua), on a real
Redis: back in the queue with a drain, or done, or moot; never over a letter written since."""

from __future__ import annotations

import dataclasses

import redis

from core.naming import LANE_DRAIN
from records.deadletters import DeadLetter, DeadLetters, Replayed
from records.lane_answers import Pinned
from records.lane_replay import LaneEntry
from records.lane_store import LaneStore
from records.ledger import Begin, Ledger, claim_key
from records.messages import celery_message
from records.once import done_field, done_key, done_record, lane_key

C = "conf-1"
LETTER = DeadLetter(
    task_id="a1", task="conference.speak", args=[C, {}, {}], reason="rejected", error="HTTP 403",
    status=403, codes=["10010"], conference_id=C, item="item a1",
)  # fmt: skip
ENTRY = LaneEntry(score=10, item="item a1", occurred_us=10, participant="call-1")


def _drain(task_id: str) -> tuple[str, bytes]:
    return task_id, celery_message(LANE_DRAIN, task_id, [C], f"conference={C}")


def _stored(client: redis.Redis, letter: DeadLetter = LETTER) -> bytes:
    store = DeadLetters(client)
    store.add(letter)
    # (As the lane's settle records a command given up on.)
    client.hset(lane_key(C), done_field(letter.task_id), "dead")
    raw = store.raw(letter.task_id)
    assert isinstance(raw, bytes)
    return raw


def _lanes(client: redis.Redis) -> LaneStore:
    return LaneStore(client, lease_seconds=5, done_ttl_seconds=3600)


def test_a_replayed_letter_waits_in_its_lane_with_a_drain_and_is_gone(
    redis_client: redis.Redis,
) -> None:
    raw, lanes = _stored(redis_client), _lanes(redis_client)
    # A dry run changes nothing
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1"), dry=True) == (
        Replayed.REPLAYED, "",
    )  # fmt: skip
    assert DeadLetters(redis_client).count() == 1
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1")) == (Replayed.REPLAYED, "")
    assert DeadLetters(redis_client).count() == 0
    assert done_record(redis_client, C, "a1") is None
    taken = lanes.take(C, "d1", "me")
    assert [raw for _, raw in taken.lane.entries] == ["item a1"]
    # A second replay finds no letter
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d2"))[0] is Replayed.GONE


def test_a_letter_written_again_since_it_was_read_is_not_replayed(
    redis_client: redis.Redis,
) -> None:
    raw = _stored(redis_client)
    _stored(
        redis_client,
        dataclasses.replace(LETTER, error="HTTP 403, again", failed_at=LETTER.failed_at + 1),
    )
    answer = _lanes(redis_client).replay_letter(LETTER, raw, ENTRY, _drain("d1"))
    assert answer[0] is Replayed.GONE
    assert DeadLetters(redis_client).count() == 1


def test_a_command_done_since_is_not_sent_again(redis_client: redis.Redis) -> None:
    raw = _stored(redis_client)
    redis_client.set(done_key("a1"), "1")  # (a run that lost the lane had it accepted)
    answer = _lanes(redis_client).replay_letter(LETTER, raw, ENTRY, _drain("d1"))
    assert answer[0] is Replayed.DONE
    assert DeadLetters(redis_client).count() == 0
    assert not redis_client.exists(f"tcw:lane:{C}:q")


def test_too_old_ended_or_left_is_moot_and_recorded_so(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    raw = _stored(redis_client)
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1"), "too old") == (
        Replayed.MOOT, "too old",
    )  # fmt: skip
    assert done_record(redis_client, C, "a1") == "moot"
    lanes.append(C, [], event_type="conference.participant.left", drain=_drain("d0"),
                 left=("call-1", 11))  # fmt: skip
    raw = _stored(redis_client)
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1")) == (
        Replayed.MOOT, "the participant has left",
    )  # fmt: skip
    lanes.append(C, [], event_type="conference.ended", drain=_drain("d0"))
    raw = _stored(redis_client)
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1")) == (
        Replayed.MOOT, "the conference has ended",
    )  # fmt: skip
    assert not redis_client.exists(f"tcw:lane:{C}:q")


def test_a_replayed_command_a_lost_run_had_accepted_is_found_done_at_its_pin(
    redis_client: redis.Redis,
) -> None:
    # Given a replayed letter back in its lane
    raw, lanes = _stored(redis_client), _lanes(redis_client)
    assert lanes.replay_letter(LETTER, raw, ENTRY, _drain("d1"))[0] is Replayed.REPLAYED
    # and since then, the run that had sent it (and lost the lane) records Telnyx's acceptance
    redis_client.set(done_key("a1"), "1")
    # When the replay's drain pins it
    [entry] = lanes.take(C, "d1", "me").lane.entries
    pinned = lanes.pin(C, "d1", "a1", '{"inflight": "a1"}', [entry.member], "me")
    # Then it is not claimed for sending: the ledger's begin finds it done (a duplicate)
    assert pinned is Pinned.CLAIMED_ELSEWHERE
    assert not redis_client.exists(claim_key("a1"))
    assert Ledger(redis_client).begin("a1", "me", conference_id=C)[0] is Begin.DONE
