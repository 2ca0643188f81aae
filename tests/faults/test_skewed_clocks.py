"""A message due later is due by Redis's clock, whatever the clock of the worker that sends it
or holds it says (records/clock.py, tasks/base.py): real Redis, real worker processes whose
wall clocks are seconds off (libfaketime), the local Telnyx API.

The skews are seconds, not fractions: read by its own clock, the skewed worker would run each
message seconds early or late, which no scheduling noise on a busy machine explains."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery

from core.naming import QUEUE, conference_task
from records.clock import RedisClock
from records.deadletters import DeadLetters
from records.journal import JOURNAL, UNACKED, Journal
from records.messages import ETA_CLOCK, REDIS_CLOCK
from sandbox.events import client_state, encode, make_event
from tasks.lane_hold import drain_message
from testkit import skewed_clock
from testkit.harness import Cluster, wait
from workers.config import celery_config

NO_SKEW = skewed_clock.unavailable()
pytestmark = pytest.mark.skipif(NO_SKEW is not None, reason=f"no skewed clock here: {NO_SKEW}")
SKEW = 3.0
DUE_IN = 2.0


def test_a_skewed_clock_is_off_by_what_was_asked_and_sleeps_still_work() -> None:
    _, seen = skewed_clock.checked(0.5)
    assert abs(seen - 0.5) <= skewed_clock.TOLERANCE_SECONDS


def test_a_skewed_process_s_threads_run_as_fast_as_any_other_s() -> None:
    # (Without FAKETIME_FORCE_MONOTONIC_FIX=0, about 6: the skewed worker, not its clock, was
    # what a run with it measured.)
    assert skewed_clock.thread_slowdown(skewed_clock.skewed(0.5)) < 2.5
    assert skewed_clock.thread_slowdown({}) < 2.5


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # A failed command is tried again by Celery in 1-2 s (the backoff's first step, jittered)
    # An announcement's event may be 10 s old at most.
    env = {"RETRY_BACKOFF_BASE_SECONDS": "2", "RETRY_BACKOFF_MAX_SECONDS": "2",
           "BROKER_VISIBILITY_TIMEOUT_SECONDS": "10", "ANNOUNCE_MAX_AGE_SECONDS": "10"}  # fmt: skip
    with Cluster(env=env) as c:
        yield c


def _skewed_worker(cluster: Cluster, skew: float) -> None:
    env, _ = skewed_clock.checked(skew, cluster.redis_server.url)
    worker = cluster.add_worker(env)
    assert skewed_clock.preloaded(worker.pid)


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_drain_handed_on_runs_when_redis_s_clock_says_so(cluster: Cluster, skew: float) -> None:
    # Given a worker whose wall clock is 3 s off
    _skewed_worker(cluster, skew)
    client = cluster.redis()
    # When a lane's drain is handed on, due in 2 s by Redis's clock (the message is journaled
    # until its run ends: then it is complete)
    task_id, message = drain_message(f"conf-{uuid.uuid4().hex}", RedisClock(client).eta(DUE_IN))
    due = _redis_now(client) + DUE_IN
    Journal(client).publish(task_id, message)
    # Then the worker runs it then by Redis's clock: not 3 s early, nor 3 s late
    assert wait(lambda: not client.hexists(JOURNAL, task_id), timeout=DUE_IN + 2 * SKEW + 5)
    ran = _redis_now(client)
    assert due - 0.2 <= ran <= due + 1.5, f"ran {ran - due:+.2f} s from its due time"


def _held(client: redis.Redis, task_id: str) -> dict[str, object] | None:
    """The headers of the task's message that a worker holds for its ETA (kombu's unacked)."""
    for raw in client.hvals(UNACKED):
        headers: dict[str, object] = json.loads(raw)[0]["headers"]
        if headers.get("id") == task_id and headers.get("eta"):
            return headers
    return None


def test_a_call_task_s_retry_is_due_by_redis_s_clock(cluster: Cluster) -> None:
    # Given a worker whose clock is 3 s ahead, and a command Telnyx fails twice (the send and
    # its immediate resend): Celery tries it again in 1-2 s
    _skewed_worker(cluster, SKEW)
    client = cluster.redis()
    cluster.api.state.fail_next(2, 503)
    producer = Celery("test-producer")
    producer.conf.update(celery_config(cluster.redis_server.url))
    task_id = str(uuid.uuid4())
    try:
        producer.send_task(
            conference_task("record_start"),
            args=[f"conf-{uuid.uuid4().hex}", {"format": "mp3", "channels": "single"},
                  {"event_id": "manual"}],
            queue=QUEUE,
            task_id=task_id,
        )  # fmt: skip
        # When the worker holds the retry for its ETA
        assert wait(lambda: _held(client, task_id) is not None, timeout=20)
        now = _redis_now(client)
        headers = _held(client, task_id)
        assert headers is not None
        # Then the ETA is by Redis's clock, and says so (by the worker's, it would be 3 s on)
        assert headers[ETA_CLOCK] == REDIS_CLOCK
        eta = datetime.fromisoformat(str(headers["eta"])).timestamp()
        assert now - 0.5 <= eta <= now + 2.1, f"due {eta - now:+.2f} s from now"
        # ...and it runs then: Telnyx accepts it
        assert cluster.api.state.wait_for(lambda rs: any(r.status == 200 for r in rs), 10)
        assert [r.status for r in cluster.api.state.requests()] == [503, 503, 200]
    finally:
        producer.close()


@pytest.mark.parametrize(
    ("skew", "age", "announced"),
    [(SKEW, 8.5, True), (-SKEW, 11.5, False)],
    ids=["ahead, under the age rule", "behind, past it"],
)
def test_an_event_s_age_is_read_by_redis_s_clock(
    cluster: Cluster, skew: float, age: float, announced: bool
) -> None:
    # Given a worker whose clock is 3 s off, and a conference it has started recording
    _skewed_worker(cluster, skew)
    conference_id = str(uuid.uuid4())
    created = make_event("conference.created", conference_id=conference_id)
    assert cluster.deliver([encode(created)]) == [True]
    assert cluster.wait_for_commands(1, timeout=20)
    # When a join arrives `age` s after Telnyx stamped it, by Redis's clock (a worker's clock
    # ahead would read 8.5 s as 11.5, past the 10 s rule; one behind, 11.5 s as 8.5)
    joined = make_event(
        "conference.participant.joined", conference_id=conference_id,
        occurred_at=datetime.now(UTC) - timedelta(seconds=age),
        client_state=client_state({"name": "Ada"}),
    )  # fmt: skip
    assert cluster.deliver([encode(joined)]) == [True]
    letters = DeadLetters(cluster.redis())
    assert wait(lambda: bool(cluster.api.state.commands("speak")) or letters.count() > 0, 20)
    # Then it is announced if Redis's clock finds it under 10 s old, else given up as expired
    assert bool(cluster.api.state.commands("speak")) is announced
    if not announced:
        assert [letter.reason for letter in letters.list()] == ["expired"]
