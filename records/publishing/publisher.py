"""Publishing events to the workers' queue, straight to Redis, in Celery's message format

The web process does not need a Celery app: it writes the same message Celery's own producer
would (task protocol 2, as kombu's Redis transport stores it) on a long-lived connection pool.
That keeps the acknowledgement path short and makes its failure modes plain: when the call
returns, Redis has the event; when Redis cannot be reached within the socket timeouts, the
caller gets `QueueUnavailable` and answers 503.

Deduplication on the Telnyx event id happens in the same Lua script as the LPUSH, so it is
atomic: of several concurrent deliveries of one event exactly one is queued, and an event is
never marked seen without being queued. The same script journals the message
(`records.journal`), so it can be recovered if a worker loses it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.naming import HANDLE_EVENT, QUEUE, event_task_id, seen_key
from core.settings import CommonSettings
from records import scripts
from records.fleet import read_view, view
from records.journal import JOURNAL, SINCE
from records.messages import celery_message, queue_age
from records.metrics import METRICS, WORKER_SEEN_SECONDS, WORKERS, Metrics, field
from records.once import lane_key
from records.publishing.group_commit import Abandoned, GroupCommit
from records.redis_client import single_connection_factory
from records.replication import PRIMARY_ONLY, Replication, ReplicationShortfall
from records.timeline import DEFAULT_TTL_SECONDS as DEFAULT_TIMELINE_TTL
from records.timeline import TIMELINE_MAX_ENTRIES, ref_key, timeline_key

_QUEUE_ONCE = scripts.load("publisher/queue_once")

DEFAULT_DEDUPE_TTL_SECONDS = 48 * 3600


class QueueUnavailable(Exception):
    """Redis could not take the message; nothing was queued."""


def event_argsrepr(event_type: str, event_id: str, conference_id: str | None) -> str:
    conference = f" conference={conference_id}" if conference_id else ""
    return f"{event_type} id={event_id}{conference}"[:300]


DEFAULT_CONNECTIONS = 8


class EventPublisher:
    """Queues verified webhook bodies for the `telnyx.handle_event` task.

    Requests share a fixed number of Redis connections, each a single-connection client taken
    from a LIFO pool for one call: the web process serves hundreds of connections at once (one
    greenlet each), but only the few that are talking to Redis at that moment hold one, and a
    hosted Redis plan's connection cap is met by `connections` per process, however many
    clients are waiting. The script is called by its SHA: this is the acknowledgement path.
    """

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        queue_name: str = QUEUE,
        dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS,
        *,
        connections: int = DEFAULT_CONNECTIONS,
        checkout_timeout_seconds: float = 1.0,
        replication: Replication = PRIMARY_ONLY,
        timeline_ttl_seconds: int = DEFAULT_TIMELINE_TTL,
    ) -> None:
        self._connect = connect
        self._replication = replication
        # None is a slot not yet connected: connections open on first use, not at import
        # (gunicorn loads the app before it forks its workers).
        self._idle: queue.LifoQueue[redis.Redis | None] = queue.LifoQueue()
        for _ in range(connections):
            self._idle.put(None)
        self._clients: list[redis.Redis] = []
        # Close every connection when the publisher goes away.
        weakref.finalize(self, _close_all, self._clients)
        self._checkout_timeout = checkout_timeout_seconds
        self._queue = queue_name
        # Refusals Redis could not count yet (it was down): counted once it is back.
        self._uncounted: Counter[str] = Counter()
        self._uncounted_lock = threading.Lock()
        self._dedupe_ttl = dedupe_ttl_seconds
        self._timeline_ttl = timeline_ttl_seconds
        # A batch waits for a connection, then for its round trip (and the replicas' WAIT);
        # the one before it may be doing the same.
        wait = 2 * (2 * checkout_timeout_seconds + replication.timeout_seconds) + 1
        self._batches: GroupCommit[list[Any]] = GroupCommit(self._queue_batch, wait_seconds=wait)

    @classmethod
    def from_settings(
        cls,
        settings: CommonSettings,
        timeout_seconds: float = 1.0,
        dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> EventPublisher:
        """The web's publisher: REDIS_URL or Sentinel, TLS, and replica acknowledgements."""
        connect = single_connection_factory(
            settings,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            # One immediate retry covers a connection that a Redis restart (or a failover)
            # closed; more would only make Telnyx wait longer for the 503 it redelivers on.
            retry=Retry(NoBackoff(), 1),
        )
        return cls(
            connect,
            dedupe_ttl_seconds=dedupe_ttl_seconds,
            connections=connections,
            checkout_timeout_seconds=timeout_seconds,
            replication=Replication(
                settings.redis_min_replicas, settings.redis_replica_timeout_seconds
            ),
            timeline_ttl_seconds=settings.timeline_retention_hours * 3600,
        )

    @contextlib.contextmanager
    def _redis(self) -> Iterator[redis.Redis]:
        """One connection for one call; QueueUnavailable when none frees up in time."""
        try:
            client = self._idle.get(timeout=self._checkout_timeout)
        except queue.Empty:
            raise QueueUnavailable("every Redis connection of this process is busy") from None
        broken = False
        try:
            if client is None:
                client = self._connect()
                self._clients.append(client)
            yield client
        except ReplicationShortfall:
            raise  # the connection is sound; the replicas were slow
        except BaseException:
            # A connection error, or anything that interrupted a call half-way (the web's
            # request deadline): the connection's state is unknown, so it is not reused.
            broken = True
            raise
        finally:
            if broken and client is not None:
                # A new client next time, which asks the Sentinels where the primary is: a
                # single-connection client reconnects to the address it had (redis-py only
                # re-discovers the primary when a pool hands out a connection), which after
                # a failover is a replica, or an empty primary restarting.
                client.close()
                self._clients.remove(client)
                client = None
            self._idle.put(client)

    def publish(
        self,
        body: str,
        event_id: str,
        event_type: str,
        conference_id: str | None,
        *,
        note: str = "",
        call_control_id: str | None = None,
    ) -> bool:
        """Queue one event body unless it was queued before; True when queued now. A
        conference's event goes on its timeline (`note`: records/timeline.py), queued or
        duplicate, in the same step.

        Raises QueueUnavailable when Redis did not take it. Requests arriving together are
        queued together (records/publishing/group_commit.py): one round trip, one replica WAIT.
        """
        task_id = event_task_id(event_id)
        message = celery_message(
            HANDLE_EVENT, task_id, [body], event_argsrepr(event_type, event_id, conference_id)
        )
        argv = _QUEUE_ONCE.argv(
            keys={
                "queue": self._queue,
                "journal": JOURNAL,
                "since": SINCE,
                "seen": seen_key(event_id),
                "lane": lane_key(conference_id) if conference_id else seen_key(event_id),
                "metrics": METRICS,
                "timeline": timeline_key(conference_id or ""),
                "event_ref": ref_key(event_id),
                "call_ref": ref_key(call_control_id or event_id),
            },
            args={
                "task_id": task_id,
                "message": message,
                "now": time.time(),
                "seen_ttl": self._dedupe_ttl,
                "note": note if conference_id else "",
                "conference_id": conference_id or "",
                "timeline_cap": TIMELINE_MAX_ENTRIES,
                "timeline_ttl": self._timeline_ttl,
            },
        )
        try:
            return bool(self._batches.submit(argv))
        except Abandoned as exc:
            raise QueueUnavailable(f"Redis did not answer: {exc}") from exc

    def _queue_batch(self, batch: Sequence[list[Any]]) -> list[Any]:
        """Run the queue script once per item (its argv), in one round trip: each item's
        answer, or the QueueUnavailable its caller raises. Safe to run twice (the script
        dedupes): an item whose caller gave up may still be queued, and its redelivery is then
        a duplicate."""
        try:
            with self._redis() as client:
                answers = scripts.run_batch(
                    lambda commands: _pipeline(client, commands),
                    [(_QUEUE_ONCE, argv) for argv in batch],
                )
                # Answered only once replicas hold them (REDIS_MIN_REPLICAS). For a duplicate
                # too: its own write comes after the first delivery's, so this WAIT covers both.
                self._replication.confirm(client)
        except redis.RedisError as exc:
            return [QueueUnavailable(str(exc))] * len(batch)
        except QueueUnavailable as exc:
            return [exc] * len(batch)
        return [QueueUnavailable(str(a)) if isinstance(a, Exception) else a for a in answers]

    def ping(self) -> bool:
        try:
            with self._redis() as client:
                return bool(client.ping())
        except (redis.RedisError, QueueUnavailable):
            return False

    def count_rejection(self, reason: str) -> None:
        """Count a refusal. One that Redis could not take (it was down: the refusal was a 503)
        waits in this process and is counted with the next that can be, so an outage's 503s
        show in /metrics once Redis is back."""
        with self._uncounted_lock:
            self._uncounted[reason] += 1
        self._flush_uncounted()

    def _flush_uncounted(self) -> None:
        with self._uncounted_lock:
            counts, self._uncounted = self._uncounted, Counter()
        if not counts:
            return
        try:
            with self._redis() as client:
                name = "telnyx_webhooks_rejected_total"
                Metrics(client).incr_many(
                    {field(name, {"reason": r}): n for r, n in counts.items()}
                )
        except (redis.RedisError, QueueUnavailable):
            with self._uncounted_lock:
                self._uncounted.update(counts)

    def metrics(self) -> str:
        """The Prometheus page: every process's counters, the queue's depth and the age of its
        oldest message now, and the workers seen lately. Raises QueueUnavailable or a
        RedisError when Redis cannot be read (the page then says only that)."""
        self._flush_uncounted()
        with self._redis() as client:
            with client.pipeline(transaction=False) as pipe:
                pipe.llen(self._queue)
                pipe.lindex(self._queue, -1)  # kombu pops from this end: the oldest
                pipe.zcount(WORKERS, time.time() - WORKER_SEEN_SECONDS, "+inf")
                pipe.info("memory")
                read_view(pipe)
                depth, oldest, workers, memory, *fleet = pipe.execute()
            age = queue_age(client, oldest) if oldest is not None else 0.0
            return Metrics(client).render(
                queue_depth=int(depth),
                queue_age=age,
                workers=int(workers),
                fleet=view(fleet),
                memory=memory,
            )

    def close(self) -> None:
        self._batches.close()
        _close_all(self._clients)


def _pipeline(client: redis.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Commands in one write on a single-connection client's own connection (redis-py's
    pipeline would take a second connection from the client's pool), with the client's retry
    of a connection a restart closed. Each answer, or the error Redis answered it with."""
    connection: Any = client.connection  # (redis-py's Connection is untyped)
    assert connection is not None, "a single-connection client"

    def send() -> list[Any]:
        connection.send_packed_command(connection.pack_commands(commands))
        answers: list[Any] = []
        for _ in commands:
            try:
                answers.append(connection.read_response())
            except redis.ResponseError as exc:
                answers.append(exc)
        return answers

    return list(connection.retry.call_with_retry(send, lambda _: connection.disconnect()))


def _close_all(clients: list[redis.Redis]) -> None:
    for client in clients:
        client.close()
    clients.clear()
