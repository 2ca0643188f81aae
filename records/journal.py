"""A journal of every task message we queue, kept until the task is finished with it.

Celery on Redis acknowledges late, and kombu hands an unacknowledged message to another
worker after the visibility timeout, which covers a worker that dies mid-task. It does not
cover a message that a worker has popped off the queue but not yet recorded as unacknowledged
when Redis goes away: that message exists nowhere any more. So each message is also written,
in the same Redis script that queues it, to this journal, and removed only when its task has
reached an outcome. A sweeper in the workers queues again any entry that has been pending
longer than a redelivery would take and is neither in the queue nor held by a worker. A message
queued twice this way is harmless: the ledger lets each action happen once.

Keys: `tcw:journal` (hash: task id -> message), `tcw:journal:since` (sorted set: task id ->
when it was queued, or when its next retry is due).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from core.naming import KEY_PREFIX, QUEUE
from records import scripts
from records.replication import PRIMARY_ONLY, Replication
from records.replies import text

JOURNAL = f"{KEY_PREFIX}journal"
SINCE = f"{KEY_PREFIX}journal:since"
SWEEP_LOCK = f"{KEY_PREFIX}journal:sweeping"
UNACKED = "unacked"  # kombu's hash of delivered, unacknowledged messages
# The sweeper stays out of the way of a backlog: entries then are most likely still queued.
MAX_QUEUE_SCAN = 2000

_QUEUE = scripts.load("journal/queue")
_COMPLETE = scripts.load("journal/complete")
_REQUEUE = scripts.load("journal/requeue")


@dataclass(frozen=True)
class Sweep:
    overdue: int = 0
    requeued: int = 0
    skipped_backlog: bool = False


class Journal:
    def __init__(
        self, client: redis.Redis, queue: str = QUEUE, replication: Replication = PRIMARY_ONLY
    ) -> None:
        self._redis = client
        self._queue = queue
        self._replication = replication

    def publish(self, task_id: str, message: bytes) -> None:
        """Queue a message and journal it, atomically."""
        _QUEUE.run(
            self._redis,
            keys={"queue": self._queue, "journal": JOURNAL, "since": SINCE},
            args={"task_id": task_id, "message": message, "now": time.time()},
        )

    def touch(self, task_id: str, delay: float = 0.0) -> None:
        """The task is alive and will next run in `delay` seconds: not lost before then."""
        self._redis.zadd(SINCE, {task_id: time.time() + delay}, xx=True)

    def complete(self, task_id: str) -> None:
        """The task reached its outcome; nothing left to recover.

        With REDIS_MIN_REPLICAS it returns only once replicas hold this and every earlier
        write (the follow-ups an event task queued, a dead letter): its message is
        acknowledged next, and a failover must not lose what the task did before that.
        Raises ReplicationShortfall otherwise; running it again is harmless."""
        self._replication.run_script(
            self._redis, _COMPLETE, {"journal": JOURNAL, "since": SINCE}, {"task_id": task_id}
        )

    def pending(self) -> int:
        return int(self._redis.zcard(SINCE))

    def sweep(self, grace_seconds: float, lock_seconds: float) -> Sweep:
        """Queue again what has been pending longer than `grace_seconds` and is nowhere else.

        Only one worker sweeps at a time (a lock with an expiry)."""
        if not self._redis.set(SWEEP_LOCK, "1", nx=True, px=int(lock_seconds * 1000)):
            return Sweep()
        now = time.time()
        overdue = [
            text(i) for i in self._redis.zrangebyscore(SINCE, "-inf", now - grace_seconds, 0, 200)
        ]
        if not overdue:
            return Sweep()
        if self._redis.llen(self._queue) > MAX_QUEUE_SCAN:
            return Sweep(overdue=len(overdue), skipped_backlog=True)
        present = _task_ids(self._redis.lrange(self._queue, 0, -1))
        present |= _task_ids(self._redis.hvals(UNACKED))
        requeued = 0
        for task_id in overdue:
            if task_id in present:
                self._redis.zadd(SINCE, {task_id: now}, xx=True)
            else:
                keys = {"queue": self._queue, "journal": JOURNAL, "since": SINCE}
                args = {"task_id": task_id, "now": now}
                requeued += int(_REQUEUE.run(self._redis, keys, args))
        return Sweep(overdue=len(overdue), requeued=requeued)


def _task_ids(raw_messages: Iterable[bytes | str]) -> set[str]:
    """Task ids of queued messages, or of kombu's unacked entries ([message, exchange, key])."""
    ids = set()
    for raw in raw_messages:
        try:
            message = json.loads(raw)
            if isinstance(message, list):
                message = message[0]
            ids.add(str(message["headers"]["id"]))
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return ids
