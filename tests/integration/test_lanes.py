"""Conference lanes, end to end: signed webhooks -> ingest -> real Redis -> the real worker ->
the local Telnyx API with real latency. Each conference's commands in event order, a late
created still recorded first, crowds announced in a few sentences, nothing said to an empty
room, and nobody announced twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from records.metrics import Metrics
from records.once import lane_key, seen_field
from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.events import call_control_id, client_state, make_event
from testkit.announcements import announced
from testkit.harness import wait

pytestmark = pytest.mark.usefixtures("worker")


def joined(conference_id: str, name: str | None, **fields: Any) -> dict[str, Any]:
    state = {"client_state": client_state({"name": name})} if name else {}
    return make_event(
        "conference.participant.joined", conference_id=conference_id, **state, **fields
    )


def in_conference(api: FakeTelnyxServer, conference_id: str) -> list[RecordedRequest]:
    return [r for r in api.state.commands() if r.target == conference_id]


def test_twenty_conferences_record_first_and_announce_in_join_order(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None]
) -> None:
    # Given an API that takes 150 ms to answer, as Telnyx's does from a dyno
    api.state.latency = 0.15
    # When 20 conferences are each created and joined by three people, back to back
    conferences = {str(uuid.uuid4()): [f"Person {c}-{j}" for j in range(3)] for c in range(20)}
    for conference_id, names in conferences.items():
        post(make_event("conference.created", conference_id=conference_id))
        for name in names:
            post(joined(conference_id, name))

    def done(conference_id: str) -> bool:
        return sum(c.total for c in announced(in_conference(api, conference_id))) >= 3

    assert wait(lambda: all(done(c) for c in conferences), 60)
    # Then in every one of them the recording starts first, and the names come in join order,
    # each once
    in_order = 0
    for conference_id, names in conferences.items():
        sent = in_conference(api, conference_id)
        spoken = announced(sent)
        if (
            sent[0].action == "record_start"
            and [n for c in spoken for n in c.named] == names
            and sum(c.total for c in spoken) == 3
        ):
            in_order += 1
    assert in_order == 20


def test_a_created_that_arrives_late_still_records_first(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None]
) -> None:
    # Given a conference whose first join is delivered before its conference.created
    api.state.latency = 0.15
    conference_id = str(uuid.uuid4())
    created = make_event("conference.created", conference_id=conference_id)
    post(joined(conference_id, "Ada Lovelace"))
    # When the created arrives half a second later
    time.sleep(0.5)  # the delay under test, not synchronisation
    post(created)
    # Then the recording still starts before the announcement
    assert wait(lambda: len(in_conference(api, conference_id)) >= 2, 20)
    assert [r.action for r in in_conference(api, conference_id)] == ["record_start", "speak"]


def test_a_lane_without_its_created_carries_on_after_the_settle_time(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None]
) -> None:
    # Given a join whose conference.created never comes
    conference_id = str(uuid.uuid4())
    started = time.time()
    post(joined(conference_id, "Grace Hopper"))
    # Then it is announced once the settle time (1 s) has passed: not before, not much later
    assert wait(lambda: len(in_conference(api, conference_id)) == 1, 20)
    [speak] = in_conference(api, conference_id)
    assert 0.9 <= speak.received_at - started < 5


def test_a_crowd_is_announced_in_a_few_sentences_covering_everyone_once(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None], pipeline_redis: redis.Redis
) -> None:
    # Given a created webinar
    api.state.latency = 0.15
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    assert wait(lambda: len(in_conference(api, conference_id)) == 1, 20)
    # When 100 people join within two seconds (every fifth without a name)
    names = [None if i % 5 == 4 else f"Guest {i}" for i in range(100)]
    events = [joined(conference_id, name) for name in names]
    first_join = time.time()
    for i, event in enumerate(events):
        post(event)
        # spread over the two seconds, each delivered on time
        time.sleep(max(0.0, first_join + (i + 1) * 0.02 - time.time()))
    last_join = time.time()
    assert last_join - first_join < 2.5

    def covered_so_far() -> int:
        return sum(c.total for c in announced(in_conference(api, conference_id)))

    assert wait(lambda: covered_so_far() >= 100, 30)
    speaks = [r for r in in_conference(api, conference_id) if r.action == "speak"]
    spoken = announced(speaks)
    # Then at most 10 speak commands cover all 100, each once, named ones in join order
    assert len(speaks) <= 10
    assert sum(c.total for c in spoken) == 100
    named = [n for c in spoken for n in c.named]
    assert named == [n for n in names if n in named]
    assert len(set(named)) == len(named)
    # ... the first within 1 s of the first join, the last within 10 s of the last join
    assert speaks[0].received_at - api.state.latency - first_join < 1.0
    assert speaks[-1].received_at - last_join < 10.0
    # And redelivering every join (past the web's duplicate check) announces nobody again
    pipeline_redis.hdel(lane_key(conference_id), *[seen_field(e["data"]["id"]) for e in events])
    for event in events:
        post({**event, "meta": {"attempt": 2}})
    count = len(speaks)
    post(make_event("conference.floor.changed", conference_id=conference_id))
    assert wait(lambda: _quiet(pipeline_redis), 20)
    assert len([r for r in in_conference(api, conference_id) if r.action == "speak"]) == count


def test_joins_spread_out_are_announced_one_by_one(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None]
) -> None:
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    for i, name in enumerate(["Ada Lovelace", "Grace Hopper", "Alan Turing"]):
        post(joined(conference_id, name))
        assert wait(lambda n=i: len(in_conference(api, conference_id)) == n + 2, 20)
        # (the next join comes after the announcement interval, 1 s)
        time.sleep(1.2)  # the spacing under test, not synchronisation
    texts = [r.body["payload"] for r in in_conference(api, conference_id)[1:]]
    assert texts == [
        "Ada Lovelace has joined the conference.",
        "Grace Hopper has joined the conference.",
        "Alan Turing has joined the conference.",
    ]


def test_nothing_is_sent_after_the_conference_ended(
    api: FakeTelnyxServer,
    post: Callable[[dict[str, Any]], None],
    pipeline_redis: redis.Redis,
) -> None:
    # Given a conference whose joins are still waiting (its created is late) when it ends
    conference_id = str(uuid.uuid4())
    before = _moot(pipeline_redis)
    post(joined(conference_id, "Ada Lovelace"))
    post(joined(conference_id, "Grace Hopper"))
    post(make_event("conference.ended", conference_id=conference_id, reason="all_left"))
    # (the worker takes events in parallel: the created must come after the end has landed,
    # or its recording could rightly go out before anyone knew of the end)
    lane = f"tcw:lane:{conference_id}"
    assert wait(lambda: bool(pipeline_redis.hexists(lane, "ended")), 20)
    post(make_event("conference.created", conference_id=conference_id))
    # Then nothing is sent for it, and the dropped commands are counted as moot
    assert wait(lambda: _moot(pipeline_redis) - before >= 3, 20)
    assert wait(lambda: _quiet(pipeline_redis), 20)
    assert in_conference(api, conference_id) == []
    assert _moot(pipeline_redis) - before == 3  # two announcements and the recording


def test_nobody_is_announced_after_they_left(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None], pipeline_redis: redis.Redis
) -> None:
    # Given a conference where three join at once, and the second leaves before being announced
    api.state.latency = 0.5  # (the recording in flight while the rest arrive)
    conference_id = str(uuid.uuid4())
    leaver = call_control_id()
    post(make_event("conference.created", conference_id=conference_id))
    post(joined(conference_id, "Ada Lovelace"))
    post(joined(conference_id, "Bob Leaves", call_control_id=leaver))
    post(joined(conference_id, "Grace Hopper"))
    post(
        make_event(
            "conference.participant.left", conference_id=conference_id, call_control_id=leaver
        )
    )
    assert wait(lambda: _quiet(pipeline_redis), 20)
    # Then he is left out, and the others are announced
    spoken = announced(in_conference(api, conference_id))
    assert [n for c in spoken for n in c.named] == ["Ada Lovelace", "Grace Hopper"]
    assert sum(c.total for c in spoken) == 2


def test_telnyx_saying_the_conference_is_over_drops_the_rest_of_its_lane(
    api: FakeTelnyxServer, post: Callable[[dict[str, Any]], None], pipeline_redis: redis.Redis
) -> None:
    # Given a conference that Telnyx has already ended, with a recording and three
    # announcements of old joins waiting (spaced by the announcement interval)
    conference_id = str(uuid.uuid4())
    api.state.end_conference(conference_id)
    before = _moot(pipeline_redis)
    post(make_event("conference.created", conference_id=conference_id))
    start = datetime.now(UTC) - timedelta(seconds=5)
    for i in range(3):
        post(joined(conference_id, f"P{i}", occurred_at=start + timedelta(seconds=i)))
    assert wait(lambda: _moot(pipeline_redis) - before >= 4, 20)
    # Then only the first command was tried; Telnyx's 422 ended the lane
    assert wait(lambda: _quiet(pipeline_redis), 20)
    tried = [r for r in api.state.requests() if r.target == conference_id]
    assert [(r.action, r.status) for r in tried] == [("record_start", 422)]


def _moot(client: redis.Redis) -> float:
    return sum(v for k, v in Metrics(client).snapshot().items() if 'outcome="moot"' in k)


def _quiet(client: redis.Redis) -> bool:
    """Nothing queued, held or waiting in a lane."""
    return client.llen("telnyx") + client.hlen("unacked") + client.zcard("tcw:journal:since") == 0
