"""What exactly-once keeps in Redis levels off: a steady stream of conferences, with a retention
of a few seconds, holds rate x retention x bytes per event, and no more, and every key of it
expires (issue 33). The web's queue script and the lane's scripts write the records, as in
production, on a Redis of the test's own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from core.naming import LANE_DRAIN, QUEUE, event_task_id, followup_task_id, inline_drain_id
from followups.followup import FollowUp
from followups.lane_policy import LaneItem
from records.journal import Journal
from records.lane_answers import Pinned, Settled, TakeStatus
from records.lane_store import LaneStore
from records.messages import celery_message
from records.publishing.publisher import EventPublisher
from sandbox.events import encode, make_event
from sandbox.redis_server import RedisServer
from testkit.harness import wait

RETENTION = 3  # s: the seen and done records', the lanes'
RATE = 60  # conferences a second, each two events (created, joined)
MARGIN = 0.25


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as own:
        yield own


def kept(client: redis.Redis) -> tuple[int, int]:
    """The lanes' keys and their bytes (MEMORY USAGE)."""
    keys = list(client.scan_iter("tcw:lane:*", count=1000))
    return len(keys), sum(int(client.memory_usage(k, samples=0) or 0) for k in keys)


class Stream:
    """Conferences through the web's queue script and a lane's append, pin and settle."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.publisher = EventPublisher(
            lambda: redis.Redis.from_url(url, single_connection_client=True),
            dedupe_ttl_seconds=RETENTION, timeline_ttl_seconds=0,
        )  # fmt: skip
        self.lanes = LaneStore(
            self.client, lease_seconds=47, done_ttl_seconds=RETENTION, timeline_ttl_seconds=0
        )
        self.journal = Journal(self.client)
        self.events = 0

    def conference(self) -> None:
        conference_id = str(uuid.uuid4())
        created = make_event("conference.created", conference_id=conference_id)
        joined = make_event("conference.participant.joined", conference_id=conference_id)
        for event in (created, joined):
            data = event["data"]
            self.publisher.publish(encode(event).decode(), data["id"], data["event_type"],
                                   conference_id)  # fmt: skip
            # (No worker: the test plays its part, the event's task complete.)
            self.journal.complete(event_task_id(data["id"]))
            self.events += 1
        self.client.delete(QUEUE)
        self._record_start(conference_id, created["data"]["id"])

    def _record_start(self, conference_id: str, event_id: str) -> None:
        followup = FollowUp("conference", "record_start", conference_id, {"command_id": event_id})
        action_id = followup_task_id(event_id, followup.key)
        item = LaneItem(action_id, followup, event_id, "conference.created", None, 0)
        drain_id = inline_drain_id(event_id)
        drain = (drain_id, celery_message(LANE_DRAIN, drain_id, [conference_id], "c"))
        _, taken = self.lanes.append_and_take(
            conference_id, [(action_id, item.score, item.to_json())],
            event_type="conference.created", drain=drain, owner="me", complete="",
        )  # fmt: skip
        assert taken is not None
        assert taken.status is TakeStatus.OK
        member = taken.lane.entries[0].member
        pinned = self.lanes.pin(conference_id, drain_id, action_id, item.to_json(), [member], "me")
        assert pinned is Pinned.CLAIMED
        settled = self.lanes.settle(
            conference_id, action_id, [action_id], drain=(drain_id, "me"), done=True
        )
        assert settled is Settled.IDLE


def test_memory_levels_off_at_rate_times_retention_and_every_key_expires(
    server: RedisServer,
) -> None:
    stream = Stream(server.url)
    # Given a steady stream of conferences, paced at RATE a second
    samples: list[tuple[float, int, int, int]] = []  # (s, events so far, keys, bytes)
    started = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - started) < 4 * RETENTION:
        stream.conference()
        n += 1
        time.sleep(max(0.0, started + n / RATE - time.monotonic()))  # pacing the load
        if n % (RATE // 4) == 0:
            samples.append((elapsed, stream.events, *kept(stream.client)))
    # Then, before anything expires, memory grows with the events: bytes per event
    early = [s for s in samples if s[0] < RETENTION - 1]
    per_event = early[-1][3] / early[-1][1]
    assert per_event <= 150
    # ... and past the retention it levels off at rate x retention x bytes per event
    rate = stream.events / (time.monotonic() - started)
    expected = rate * RETENTION * per_event
    steady = [s[3] for s in samples if s[0] > 2 * RETENTION]
    assert steady, samples
    for held in steady:
        assert abs(held - expected) <= MARGIN * expected + per_event * rate, (held, expected)
    assert max(steady) - min(steady) <= 2 * MARGIN * expected
    # When the stream stops, every key of it expires
    assert wait(lambda: kept(stream.client)[0] == 0, RETENTION + 10)
    assert stream.client.dbsize() <= 3, stream.client.keys()  # (counters, the fleet: no ids)
