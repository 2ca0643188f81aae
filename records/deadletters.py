"""Actions that failed for good, kept in Redis with their error until an operator acts, or
until they expire (DEAD_LETTER_TTL_SECONDS, 14 days by default).

Each dead letter holds what is needed to run the task again: its name, id and arguments,
which include caller data (spoken text, client_state); hence the expiry. Replaying queues it
again with its retry count reset; the ledger still prevents a double.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import redis

from core.naming import KEY_PREFIX, QUEUE
from records import scripts
from records.journal import JOURNAL, SINCE
from records.messages import celery_message
from records.once import done_key, lane_key

LETTERS = f"{KEY_PREFIX}dead"  # hash: task id -> JSON
LETTER_INDEX = f"{KEY_PREFIX}dead:index"  # sorted set: task id by time of death

_REPLAY = scripts.load("deadletters/replay")
_EXPIRE = scripts.load("deadletters/expire")
# The most letters one expire call deletes: Redis does nothing else while a script runs.
_EXPIRE_BATCH = 500

DEFAULT_TTL_SECONDS = 14 * 86400


@dataclass(frozen=True)
class DeadLetter:
    task_id: str
    task: str
    args: list[Any]
    # retries_exhausted, rejected, error, expired (too old to act on), or outcome_unknown (sent,
    # but no answer came before Telnyx's command_id window closed: it may have been acted on)
    reason: str
    error: str
    status: int | None = None
    codes: list[str] = field(default_factory=list)
    retries: int = 0
    event_id: str | None = None
    failed_at: float = field(default_factory=time.time)
    # A lane's letter: its conference, and its command as an item of the lane (JSON), so that
    # a replay puts it back in the lane (in event order, behind the lane's drain) rather than
    # sending it on its own. Letters of call tasks, and older ones, have neither.
    conference_id: str | None = None
    item: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeadLetter:
        # (Fields a later version adds are left out, so that a letter it wrote still reads.)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})

    @property
    def conference(self) -> str | None:
        """The conference it was for: the lane's, or a conference command's target."""
        if self.conference_id is not None:
            return self.conference_id
        if self.task.startswith("conference.") and self.args and isinstance(self.args[0], str):
            return self.args[0]
        return None


class Replayed(enum.Enum):
    """What replaying one letter came to."""

    REPLAYED = "replayed"  # queued again (in its lane, or as its own task)
    DONE = "already_done"  # the ledger says it is done: the letter went, nothing was queued
    MOOT = "moot"  # past its age rule, its conference ended, its participant left: not sent
    GONE = "not_found"  # no such letter (replayed, purged or expired meanwhile)


class DeadLetters:
    def __init__(self, client: redis.Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = client
        self.ttl_seconds = ttl_seconds

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def add(self, letter: DeadLetter) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(LETTERS, letter.task_id, letter.to_json())
            pipe.zadd(LETTER_INDEX, {letter.task_id: letter.failed_at})
            pipe.execute()
        self.expire()

    def expires_at(self, letter: DeadLetter) -> float:
        return letter.failed_at + self.ttl_seconds

    def expire(self, now: float | None = None) -> int:
        """Delete the letters older than the TTL; returns how many went."""
        oldest_kept = (time.time() if now is None else now) - self.ttl_seconds
        removed = 0
        while True:
            batch = int(
                _EXPIRE.run(
                    self._redis,
                    keys={"letters": LETTERS, "index": LETTER_INDEX},
                    args={"oldest_kept": oldest_kept, "limit": _EXPIRE_BATCH},
                )
            )
            removed += batch
            if batch < _EXPIRE_BATCH:
                return removed

    def list(self, limit: int = 100) -> list[DeadLetter]:
        self.expire()
        ids: list[Any] = self._redis.zrange(LETTER_INDEX, 0, limit - 1)
        if not ids:
            return []
        raws = self._redis.hmget(LETTERS, ids)
        return [DeadLetter.from_json(raw) for raw in raws if raw is not None]

    def count(self) -> int:
        return int(self._redis.zcard(LETTER_INDEX))

    def get(self, task_id: str) -> DeadLetter | None:
        raw = self._redis.hget(LETTERS, task_id)
        if raw is None:
            return None
        letter = DeadLetter.from_json(raw)
        return None if self.expires_at(letter) <= time.time() else letter

    def replay(self, task_id: str) -> bool:
        """Queue a dead letter's task again and remove the letter, atomically."""
        return self.replay_task(task_id) is Replayed.REPLAYED

    def raw(self, task_id: str) -> bytes | str | None:
        """A letter as stored (a lane's replay is guarded by it)."""
        found: bytes | str | None = self._redis.hget(LETTERS, task_id)
        return found

    def replay_task(self, task_id: str, listed: DeadLetter | None = None) -> Replayed:
        """Queue a dead letter's task again (as a task of its own) and remove the letter,
        atomically; unless the ledger says it is done. `listed`: the letter as the caller chose
        it; one written again since (another replay's outcome, say) is not replayed."""
        raw = self.raw(task_id)
        letter = DeadLetter.from_json(raw) if raw is not None else None
        if letter is None or (listed is not None and letter != listed):
            return Replayed.GONE
        message = celery_message(letter.task, letter.task_id, letter.args, f"replay of {task_id}")
        keys = {
            "letters": LETTERS,
            "index": LETTER_INDEX,
            "queue": QUEUE,
            "journal": JOURNAL,
            "since": SINCE,
            "done": done_key(task_id),
            "lane": lane_key(letter.conference) if letter.conference else done_key(task_id),
        }
        args = {"task_id": task_id, "message": message, "now": time.time(), "expected": raw}
        answer = int(_REPLAY.run(self._redis, keys, args))
        return {0: Replayed.GONE, 1: Replayed.REPLAYED, 2: Replayed.DONE}[answer]

    def purge(self, task_id: str | None = None) -> int:
        """Delete one dead letter, or all of them; returns how many went."""
        if task_id is None:
            count = self.count()
            self._redis.delete(LETTERS, LETTER_INDEX)
            return count
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(LETTERS, task_id)
            pipe.zrem(LETTER_INDEX, task_id)
            deleted, _ = pipe.execute()
        return int(deleted)
