from __future__ import annotations

import json
import time

import redis

from core.naming import QUEUE
from records.journal import SINCE, Journal
from records.messages import celery_message


def _message(task_id: str) -> bytes:
    return celery_message("conference.speak", task_id, ["c", {}, {}], "x")


def _age(client: redis.Redis, task_id: str, seconds: float) -> None:
    client.zadd(SINCE, {task_id: time.time() - seconds})


def _lost(client: redis.Redis, task_id: str, age: float = 100) -> Journal:
    """A journaled message that left the queue and was never recorded as unacknowledged."""
    journal = Journal(client)
    journal.publish(task_id, _message(task_id))
    client.rpop(QUEUE)
    _age(client, task_id, age)
    return journal


def test_publish_queues_and_journals(redis_client: redis.Redis) -> None:
    journal = Journal(redis_client)
    journal.publish("t1", _message("t1"))
    assert redis_client.llen(QUEUE) == 1
    assert journal.pending() == 1
    journal.complete("t1")
    assert journal.pending() == 0


def test_a_message_lost_in_transit_is_queued_again(redis_client: redis.Redis) -> None:
    # Given a journaled message that left the queue and was never recorded as unacked
    journal = _lost(redis_client, "lost")
    # When the sweeper runs
    sweep = journal.sweep(grace_seconds=60, lock_seconds=0.05)
    # Then it is queued again, once
    assert sweep.requeued == 1
    [raw] = redis_client.lrange(QUEUE, 0, -1)
    assert json.loads(raw)["headers"]["id"] == "lost"
    redis_client.delete("tcw:journal:sweeping")
    assert journal.sweep(grace_seconds=60, lock_seconds=0.05).requeued == 0


def test_messages_still_queued_or_unacked_are_left_alone(redis_client: redis.Redis) -> None:
    journal = Journal(redis_client)
    journal.publish("queued", _message("queued"))
    journal.publish("held", _message("held"))
    held = redis_client.lpop(QUEUE)
    redis_client.hset("unacked", "tag-1", json.dumps([json.loads(held), "", QUEUE]))
    _age(redis_client, "queued", 100)
    _age(redis_client, "held", 100)
    sweep = journal.sweep(grace_seconds=60, lock_seconds=0.05)
    assert (sweep.overdue, sweep.requeued) == (2, 0)
    assert redis_client.llen(QUEUE) == 1


def test_recent_and_completed_entries_are_not_swept(redis_client: redis.Redis) -> None:
    journal = Journal(redis_client)
    journal.publish("fresh", _message("fresh"))
    redis_client.rpop(QUEUE)
    assert journal.sweep(grace_seconds=60, lock_seconds=0.05).overdue == 0
    journal.complete("fresh")
    assert journal.pending() == 0


def test_touch_postpones_recovery(redis_client: redis.Redis) -> None:
    journal = _lost(redis_client, "retrying")
    journal.touch("retrying", delay=30)
    assert journal.sweep(grace_seconds=60, lock_seconds=0.05).overdue == 0


def test_only_one_sweeper_at_a_time(redis_client: redis.Redis) -> None:
    journal = _lost(redis_client, "lost")
    redis_client.set("tcw:journal:sweeping", "1", px=10_000)
    assert journal.sweep(grace_seconds=60, lock_seconds=1).requeued == 0
