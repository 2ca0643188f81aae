"""The timeline's records on a real Redis: entries written in the step they describe, only once
it stands (fenced), stamped by Redis's clock, capped and kept for a bounded time."""

from __future__ import annotations

import json

import redis

from core.naming import LANE_DRAIN
from records import scripts
from records.lane_store import LaneStore
from records.messages import celery_message
from records.timeline import Timeline, note, ref_key, timeline_key

C = "conf-1"


def _lanes(client: redis.Redis) -> LaneStore:
    return LaneStore(client, lease_seconds=5, done_ttl_seconds=3600, timeline_ttl_seconds=600)


def _drain(task_id: str) -> tuple[str, bytes]:
    return task_id, celery_message(LANE_DRAIN, task_id, [C], f"conference={C}")


def _kinds(client: redis.Redis) -> list[str]:
    return [entry["kind"] for entry in Timeline(client).entries(C)]


def test_an_outcome_is_on_the_timeline_only_once_the_fenced_settle_stands(
    redis_client: redis.Redis,
) -> None:
    # Given a lane whose planned item is pinned by the run "me"
    lanes = _lanes(redis_client)
    planned = note("planned", actions=[{"id": "a1", "action": "conference.speak"}])
    lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d1"), note=planned)
    taken = lanes.take(C, "d1", "me")
    lanes.pin(C, "d1", "a1", "cmd", [taken.lane.entries[0][0]], "me")
    # When a run that does not hold the lane settles it, nothing of it is written
    sent = note("sent", batch="a1", actions=["a1"])
    lost = lanes.settle(C, "a1", ["a1"], done=True, drain=("d1", "another run"), note=sent)
    assert lost == "lost"
    assert _kinds(redis_client) == ["planned"]
    # When the holder settles it, the entry is written in the same step, stamped by Redis
    assert lanes.settle(C, "a1", ["a1"], done=True, drain=("d1", "me"), note=sent) == "idle"
    entries = Timeline(redis_client).entries(C)
    assert [e["kind"] for e in entries] == ["planned", "sent"]
    seconds, _ = redis_client.time()
    assert abs(entries[1]["t"] / 1000 - seconds) < 5
    assert 0 < redis_client.ttl(timeline_key(C)) <= 600
    # And a redelivered event adds no second plan
    lanes.append(C, [("a1", 10, "item 1")], event_type="x", drain=_drain("d2"), note=planned)
    assert _kinds(redis_client) == ["planned", "sent"]


def test_a_hand_off_or_a_drop_by_a_run_that_lost_the_lane_writes_nothing(
    redis_client: redis.Redis,
) -> None:
    lanes = _lanes(redis_client)
    lanes.append(C, [("a1", 10, "i1")], event_type="x", drain=_drain("d1"))
    member = lanes.take(C, "d1", "me").lane.entries[0][0]
    dropped = note("dropped", actions=["a1"])
    assert not lanes.drop(C, "d1", "another run", [member], [], note=dropped)
    waited = note("wait", why="pace")
    assert lanes.hand_off(C, "d1", "another run", _drain("d2"), note=waited) == "lost"
    assert _kinds(redis_client) == []
    assert lanes.drop(C, "d1", "me", [member], [], note=dropped)
    assert _kinds(redis_client) == ["dropped"]


def test_a_webhook_is_on_its_conference_timeline_queued_or_duplicate_and_names_it(
    redis_client: redis.Redis,
) -> None:
    queue_once = scripts.load("publisher/queue_once")
    keys = {
        "queue": "q", "journal": "j", "since": "s", "seen": "tcw:seen:e1", "lane": f"tcw:lane:{C}",
        "metrics": "m", "timeline": timeline_key(C), "event_ref": ref_key("e1"), "call_ref": ref_key("call-1"),
    }  # fmt: skip
    args = {
        "task_id": "t1", "message": "msg", "now": 1, "seen_ttl": 60, "conference_id": C,
        "note": note("webhook", event_id="e1"), "timeline_cap": 2, "timeline_ttl": 600,
    }  # fmt: skip
    for _ in range(3):
        queue_once.run(redis_client, keys, args)
    # Capped: the oldest entry went
    outcomes = [e["outcome"] for e in Timeline(redis_client).entries(C)]
    assert outcomes == ["duplicate", "duplicate"]
    timeline = Timeline(redis_client)
    assert timeline.resolve("e1") == timeline.resolve("call-1") == timeline.resolve(C) == C
    assert timeline.resolve("unknown") is None
    assert 0 < redis_client.ttl(ref_key("call-1")) <= 600


def test_an_entry_is_bounded() -> None:
    entry = json.loads(note("x", why="w" * 5000, actions=list(range(5000)), nothing=None))
    assert len(entry["why"]) == 300
    assert len(entry["actions"]) == 500
    assert "nothing" not in entry
