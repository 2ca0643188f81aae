"""The lane store on a real Redis: one drain per lane, items once, settled items done."""

from __future__ import annotations

import json
from typing import Any

import redis

from core.naming import LANE_DRAIN, QUEUE
from records.deadletters import DeadLetter, DeadLetters
from records.fleet import CIRCUIT_FAILURES, FLEET, SENT, Answer, Fleet, Ticket
from records.journal import JOURNAL, SINCE
from records.lane_answers import LaneSnapshot, Pinned, member_id
from records.lane_store import LaneStore
from records.ledger import claim_key
from records.messages import celery_message
from records.metrics import METRICS
from records.once import done_key, done_record

C = "conf-1"


def _lanes(client: redis.Redis) -> LaneStore:
    return LaneStore(client, lease_seconds=5, done_ttl_seconds=3600)


def _drain(task_id: str) -> tuple[str, bytes]:
    return task_id, celery_message(LANE_DRAIN, task_id, [C], f"conference={C}")


def _queued_ids(client: redis.Redis) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in client.lrange(QUEUE, 0, -1)]


def test_the_first_item_queues_one_drain_and_later_ones_none(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    added = lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"))
    assert added == (1, True, True)
    added = lanes.append(C, [("a2", 11, "item 2")], event_type="x", drain=_drain("d2"))
    assert added == (1, False, False)
    assert _queued_ids(redis_client) == ["d1"]
    assert redis_client.hexists(JOURNAL, "d1")


def test_an_item_waiting_or_done_is_not_added_again(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"))
    redis_client.set(done_key("a2"), "1")
    added = lanes.append(
        C, [("a1", 10, "item 1"), ("a2", 10, "item 2")], event_type="x", drain=_drain("d2")
    )
    assert added == (0, False, False)


def test_items_come_in_score_order_then_arrival_order(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    for action_id, score in [("late", 30), ("first", 20), ("second", 20), ("created", 0)]:
        lanes.append(C, [(action_id, score, action_id)], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    assert taken.status == "ok"
    assert [raw for _, raw in taken.lane.entries] == ["created", "first", "second", "late"]


def test_only_the_lanes_drain_may_take_it_and_one_run_at_a_time(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"))
    assert lanes.take(C, "d0", "me").status == "stale"
    assert lanes.take(C, "d1", "me").status == "ok"
    busy = lanes.take(C, "d1", "a copy of the same message")
    assert busy.status == "busy"
    assert 4 < busy.busy_seconds <= 5
    # the run ends, handing over: its lease goes with it
    assert lanes.hand_off(C, "d1", "me", _drain("d2")) == "next"
    assert lanes.take(C, "d2", "the next run").status == "ok"


def test_a_sent_command_is_done_for_every_item_it_covers(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    entries = [("a1", 10, "item 1"), ("a2", 11, "item 2"), ("a3", 12, "item 3")]
    lanes.append(C, entries, event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    members = [m for m, _ in taken.lane.entries[:2]]
    assert lanes.pin(C, "d1", "a1.merged", "the merged command", members, "me") == 1
    assert redis_client.get("tcw:claim:a1.merged") == b"me"  # claimed in the ledger
    assert (
        lanes.pin(C, "d1", "a3", "another", [taken.lane.entries[2][0]], "me") == 0
    )  # one at a time
    taken = lanes.take(C, "d1", "me")
    assert taken.lane.inflight == "the merged command"
    assert [member_id(m) for m, _ in taken.lane.entries] == ["a3"]
    answer = lanes.settle(
        C,
        "a1.merged",
        ["a1", "a2"],
        done=True,
        counters=["sent", "merged"],
        announced=True,
        drain=("d1", "me"),
    )
    assert answer == "more"  # a3 waits
    assert not redis_client.exists("tcw:claim:a1.merged")
    for action_id in ("a1.merged", "a1", "a2"):
        assert done_record(redis_client, C, action_id)
    assert done_record(redis_client, C, "a3") is None
    taken = lanes.take(C, "d1", "me")
    assert taken.lane.inflight is None
    assert taken.lane.announced is not None
    assert redis_client.hget(METRICS, "merged") == b"1"
    # a redelivered event finds its items done
    assert lanes.append(C, entries[:2], event_type="x", drain=_drain("d9")) == (0, False, False)


def test_a_dead_lettered_command_is_not_recorded_done(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0][0]], "me")
    answer = lanes.settle(C, "a1", ["a1"], done=False, counters=["dead"], drain=("d1", "me"))
    assert answer == "idle"
    # nothing waits: the lane went idle, the drain's message complete, in the same step
    fields = redis_client.hgetall(f"tcw:lane:{C}")
    assert b"drain" not in fields
    assert not redis_client.exists(f"tcw:lane:{C}:lease")
    assert not redis_client.hexists(JOURNAL, "d1")
    assert done_record(redis_client, C, "a1") is None


def test_dropped_items_are_recorded_moot_and_counted(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1"), ("a2", 11, "i2")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    assert not lanes.drop(
        C, "d0", "me", [taken.lane.entries[0][0]], ["moot"]
    )  # not the lane's drain
    assert not lanes.drop(C, "d1", "not the lease's holder", [taken.lane.entries[0][0]], ["moot"])
    assert lanes.drop(C, "d1", "me", [taken.lane.entries[0][0]], ["moot"])
    assert not lanes.drop(C, "d1", "me", [taken.lane.entries[0][0]], ["moot"])  # dropped already
    assert done_record(redis_client, C, "a1") == "moot"
    assert redis_client.hget(METRICS, "moot") == b"1"
    assert [member_id(m) for m, _ in lanes.take(C, "d1", "me").lane.entries] == ["a2"]


def test_a_drain_hands_over_while_there_is_work_and_goes_idle_after(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    redis_client.delete(QUEUE)
    assert lanes.hand_off(C, "d1", "me", _drain("d2")) == "lost"  # not taken: no lease
    lanes.take(C, "d1", "me")
    assert lanes.hand_off(C, "d1", "me", _drain("d2"), delay=0.5, waiting=True) == "next"
    assert _queued_ids(redis_client) == ["d2"]
    assert not redis_client.hexists(JOURNAL, "d1")
    assert redis_client.zscore(SINCE, "d2") is not None
    taken = lanes.take(C, "d2", "me")
    lanes.drop(C, "d2", "me", [taken.lane.entries[0][0]], [])
    assert lanes.hand_off(C, "d2", "me", _drain("d3")) == "idle"
    # the next item finds no drain and queues its own
    assert lanes.append(C, [("a2", 11, "i2")], event_type="x", drain=_drain("d4")) == (
        1,
        True,
        True,
    )


def test_an_inline_drain_is_journaled_but_not_queued(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    appended = lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"), inline=True)
    assert appended == (1, True, True)
    assert _queued_ids(redis_client) == []
    assert redis_client.hexists(JOURNAL, "d1")  # queued by the journal if its runner dies
    assert lanes.take(C, "d1", "me").status == "ok"
    # the event task's redelivery (same drain id) finds the lane still waiting for it
    again = lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"), inline=True)
    assert again == (0, False, True)


def test_failed_attempts_are_counted_until_the_command_is_settled(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0][0]], "me")
    lanes.hand_off(C, "d1", "me", _drain("d2"), delay=0.1, failed=True)
    lanes.take(C, "d2", "run 2")
    lanes.hand_off(C, "d2", "run 2", _drain("d3"), delay=0.1, failed=True)
    assert lanes.take(C, "d3", "run 3").lane.attempts == 2
    assert lanes.settle(C, "a1", ["a1"], done=True, drain=("d3", "run 3")) == "idle"


def test_a_late_created_wakes_a_lane_that_waits_for_it(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    lanes.take(C, "d1", "me")
    lanes.hand_off(C, "d1", "me", _drain("d2"), delay=1, waiting=True)
    redis_client.delete(QUEUE)
    # a join does not wake it; the created does, with a drain that runs now
    assert lanes.append(C, [("a2", 11, "i2")], event_type="x", drain=_drain("d3")) == (
        1,
        False,
        False,
    )
    created = lanes.append(
        C, [("a0", 0, "i0")], event_type="conference.created", drain=_drain("d4")
    )
    assert created == (1, True, True)
    assert _queued_ids(redis_client) == ["d4"]
    assert lanes.take(C, "d2", "me").status == "stale"
    assert not redis_client.hexists(JOURNAL, "d2")  # complete with the verdict


def test_what_an_event_says_of_the_conference_is_kept(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [], event_type="conference.created", drain=_drain("d1"), now_ms=5)
    lanes.append(C, [], event_type="conference.participant.left", drain=_drain("d1"),
                 left=("v3:x", 40))  # fmt: skip
    lanes.append(C, [], event_type="conference.participant.left", drain=_drain("d1"),
                 left=("v3:x", 30))  # fmt: skip
    lanes.append(C, [], event_type="conference.ended", drain=_drain("d1"))
    fields = redis_client.hgetall(f"tcw:lane:{C}")
    assert fields[b"first"] == b"5"
    assert fields[b"created"] == fields[b"ended"] == b"1"
    assert fields[b"left:v3:x"] == b"40"  # the latest leaving counts
    assert b"drain" not in fields  # nothing to send: no drain
    assert redis_client.ttl(f"tcw:lane:{C}") > 3000


def test_a_command_claimed_elsewhere_is_pinned_but_not_claimed(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    redis_client.set("tcw:claim:a1", "someone else")
    taken = lanes.take(C, "d1", "me")
    assert lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0][0]], "me") == 2
    assert redis_client.get("tcw:claim:a1") == b"someone else"


def test_a_drain_about_to_wait_for_a_created_that_just_came_takes_the_lane_again(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    lanes.take(C, "d1", "me")  # (no created yet: the drain decides to wait for it)
    lanes.append(C, [("a0", 0, "i0")], event_type="conference.created", drain=_drain("d2"))
    redis_client.delete(QUEUE)
    answer = lanes.hand_off(C, "d1", "me", _drain("d3"), delay=1, waiting=True, for_created=True)
    assert answer == "again"
    assert _queued_ids(redis_client) == []
    assert redis_client.hget(f"tcw:lane:{C}", "drain") == b"d1"


# -- the steps folded together for the hot path: one round trip each ---------------------------


def test_an_event_task_appends_completes_its_message_and_takes_the_lane_in_one_step(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    redis_client.hset(JOURNAL, "event-1", "its message")
    redis_client.zadd(SINCE, {"event-1": 1})
    added, taken = lanes.append_and_take(
        C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"), owner="run-1",
        complete="event-1",
    )  # fmt: skip
    # The event's message is complete, its drain journaled (not queued: the task runs it),
    # and the task holds the lane's lease with the lane as a take shows it
    assert added == 1
    assert taken is not None
    assert taken.status == "ok"
    assert [(member_id(m), v) for m, v in taken.lane.entries] == [("a1", "item 1")]
    assert redis_client.get(f"tcw:lane:{C}:lease") == b"run-1"
    assert not redis_client.hexists(JOURNAL, "event-1")
    assert redis_client.zscore(SINCE, "event-1") is None
    assert redis_client.hexists(JOURNAL, "d1")
    assert _queued_ids(redis_client) == []
    # A second event while the lane has its drain: added and complete, not taken, no lease
    redis_client.hset(JOURNAL, "event-2", "its message")
    added, taken = lanes.append_and_take(
        C, [("a2", 11, "item 2")], event_type="x", drain=_drain("d2"), owner="run-2",
        complete="event-2",
    )  # fmt: skip
    assert (added, taken) == (1, None)
    assert not redis_client.hexists(JOURNAL, "event-2")
    assert redis_client.get(f"tcw:lane:{C}:lease") == b"run-1"
    # The first event's task redelivered while its first run still holds the lane: busy
    added, taken = lanes.append_and_take(
        C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"), owner="run-3",
        complete="event-1",
    )  # fmt: skip
    assert added == 0
    assert taken is not None
    assert taken.status == "busy"
    assert taken.busy_seconds > 0


def test_pin_asks_the_fleet_in_the_same_step(redis_client: redis.Redis) -> None:
    lanes, fleet = _lanes(redis_client), Fleet(redis_client)
    lanes.append(C, [("a1", 10, "i1"), ("a2", 11, "i2")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    pinned, go = lanes.pin_and_ask(
        C, "d1", "a1", "cmd 1", [taken.lane.entries[0][0]], "me", fleet, Ticket("a1")
    )
    assert (pinned, go.now if go else None, go.why if go else None) == (1, True, "go")
    assert redis_client.zcard(SENT) == 1  # (counted in the pace in the same step)
    assert redis_client.get(claim_key("a1")) == b"me"
    assert lanes.settle(C, "a1", ["a1"], done=True, drain=("d1", "me")) == "more"
    # When Telnyx fails often enough to open the circuit
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("someone", Answer("failed"))
    taken = lanes.take(C, "d1", "me")
    pinned, go = lanes.pin_and_ask(
        C, "d1", "a2", "cmd 2", [taken.lane.entries[0][0]], "me", fleet, Ticket("a2")
    )
    # Then the command is pinned and claimed, and the answer says wait: Telnyx is down
    assert pinned == 1
    assert go is not None
    assert (go.now, go.why) == (False, "open")
    # ... and a pin that changes nothing asks nothing
    assert lanes.pin_and_ask(C, "d1", "a3", "cmd 3", ["nobody"], "me", fleet, Ticket("a3")) == (
        0, None,
    )  # fmt: skip


def test_settle_tells_the_fleet_in_the_same_step_even_for_a_run_that_lost_its_lane(
    redis_client: redis.Redis,
) -> None:
    lanes, fleet = _lanes(redis_client), Fleet(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0][0]], "me")
    for _ in range(CIRCUIT_FAILURES):
        fleet.tell("someone", Answer("failed"))
    assert redis_client.hget(FLEET, "state") == b"open"
    # A run that no longer holds the lane: only its command's done record, and the fleet learns
    assert lanes.settle_and_tell(
        C, "a1", ["a1"], drain=("d1", "not me"), fleet=fleet, answer=Answer("answered")
    ) == ("lost", "closed")
    assert redis_client.hget(FLEET, "state") is None
    assert done_record(redis_client, C, "a1")
    # The holder settles it, telling the fleet Telnyx's rate-limit headers
    answer = Answer("answered", limit=10, remaining=9, reset=1.0)
    assert lanes.settle_and_tell(
        C, "a1", ["a1"], drain=("d1", "me"), fleet=fleet, answer=answer, counters=["sent"]
    ) == ("idle", "")
    assert redis_client.hget(FLEET, "limit") == b"10"
    assert redis_client.hget(METRICS, "sent") == b"1"


def test_a_redis_that_forgot_the_scripts_is_given_them_again(redis_client: redis.Redis) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    assert lanes.take(C, "d1", "me").status == "ok"
    # A restarted (or flushed) Redis has no scripts
    redis_client.script_flush()
    assert lanes.take(C, "d1", "me").status == "ok"
    assert lanes.settle(C, "a1", ["a1"], done=True, drain=("d1", "me")) == "more"


def test_the_lane_as_taken_from_the_stored_fields() -> None:
    fields: dict[str, Any] = {
        "first": "12",
        "created": "1",
        "left:v3:abc": "40",
        "announced": "30",
        "seq": "9",
        "drain": "d",
    }
    assert LaneSnapshot.from_fields(fields) == LaneSnapshot(
        first_ms=12, created=True, ended=False, left={"v3:abc": 40}, announced=30
    )


def test_an_action_given_up_on_is_not_added_back_and_its_replay_sends_it(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "me")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0].member], "me")
    # Given the command is given up on, its dead letter written in the same step
    letter = DeadLetter("a1", "conference.speak", ["conf-1", {}, {}], "rejected", "403")
    assert lanes.give_up(C, "a1", ["a1"], drain=("d1", "me"), letter=letter) == ("idle", False)
    assert DeadLetters(redis_client).get("a1") == letter
    # When its event is redelivered, the action is not added back
    assert lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d2"))[0] == 0
    # ... but replaying its letter sends it: the ledger no longer says it is done
    assert DeadLetters(redis_client).replay("a1")
    assert done_record(redis_client, C, "a1") is None


def test_a_command_a_lost_run_sent_is_done_for_the_holder_that_gave_it_up(
    redis_client: redis.Redis,
) -> None:
    lanes, fleet = _lanes(redis_client), Fleet(redis_client)
    entries = [("a1", 10, "i1"), ("a2", 11, "i2")]
    lanes.append(C, entries, event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "X")
    members = [entry.member for entry in taken.lane.entries]
    assert lanes.pin(C, "d1", "b", "merged", members, "X") == Pinned.CLAIMED
    # Given run X sent the merged command b (Telnyx accepted it) and stalled past its lease,
    # and the run Y that took over gave b up (its outcome unknown to Y)
    redis_client.delete(f"tcw:lane:{C}:lease", claim_key("b"))
    assert lanes.take(C, "d1", "Y").lane.inflight == "merged"
    letter = DeadLetter("b", "conference.speak", [], "outcome_unknown", "no answer")
    assert lanes.give_up(C, "b", ["a1", "a2"], drain=("d1", "Y"), letter=letter) == (
        "idle", False,
    )  # fmt: skip
    # When X's settle arrives, Telnyx's acceptance with it
    settled, _ = lanes.settle_and_tell(
        C, "b", ["a1", "a2"], drain=("d1", "X"), fleet=fleet, answer=Answer("answered")
    )
    # Then X holds no say over the lane, but what Telnyx accepted is the record: done for the
    # command and every item, and the letter that said otherwise withdrawn
    assert settled == "lost"
    assert [done_record(redis_client, C, i) for i in ("b", "a1", "a2")] == ["1"] * 3
    assert DeadLetters(redis_client).count() == 0
    # ... so a redelivered event adds nothing back
    assert lanes.append(C, entries, event_type="x", drain=_drain("d9"))[0] == 0


def test_a_waiting_member_without_its_item_is_dropped_and_counted(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1"), ("a2", 11, "i2")], event_type="x", drain=_drain("d1"))
    redis_client.hdel(f"tcw:lane:{C}:items", "a1")
    taken = lanes.take(C, "d1", "me")
    assert taken.missing == ["a1"]
    assert [entry.action_id for entry in taken.lane.entries] == ["a2"]
    assert redis_client.zcard(f"tcw:lane:{C}:q") == 1
    assert redis_client.hget(METRICS, "telnyx_lane_items_missing_total") == b"1"


def test_a_holder_giving_up_a_command_a_lost_run_had_accepted_settles_it_done(
    redis_client: redis.Redis,
) -> None:
    lanes, fleet = _lanes(redis_client), Fleet(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    taken = lanes.take(C, "d1", "X")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0].member], "X")
    # Given X sent it and stalled; Y took over the lane, and X's acceptance lands first
    redis_client.delete(f"tcw:lane:{C}:lease", claim_key("a1"))
    lanes.take(C, "d1", "Y")
    assert (
        lanes.settle_and_tell(
            C, "a1", ["a1"], drain=("d1", "X"), fleet=fleet, answer=Answer("answered")
        )[0]
        == "lost"
    )
    # When Y gives the command up (its outcome unknown to Y)
    letter = DeadLetter("a1", "conference.speak", [], "outcome_unknown", "no answer")
    answer = lanes.give_up(C, "a1", ["a1"], drain=("d1", "Y"), letter=letter)
    # Then the acceptance stands: done, no letter (a replay could only send it twice)
    assert answer == ("idle", True)
    assert done_record(redis_client, C, "a1") == "1"
    assert DeadLetters(redis_client).count() == 0
