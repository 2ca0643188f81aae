"""Actions that failed for good, kept in Redis with their error until an operator acts, or
until they expire (DEAD_LETTER_TTL_SECONDS, 14 days by default).

Each dead letter holds what is needed to run the task again: its name, id and arguments,
which include caller data (spoken text, client_state); hence the expiry. Replaying queues it
again with its retry count reset; the ledger still prevents a double.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from core.naming import KEY_PREFIX, QUEUE
from records.journal import JOURNAL, SINCE
from records.publisher import celery_message

_ITEMS = f"{KEY_PREFIX}dead"  # hash: task id -> JSON
_INDEX = f"{KEY_PREFIX}dead:index"  # sorted set: task id by time of death

# KEYS[1] hash, KEYS[2] index, KEYS[3] queue, KEYS[4] journal, KEYS[5] journal times;
# ARGV[1] task id, ARGV[2] message, ARGV[3] now.
_REPLAY = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
return 1
"""


# KEYS[1] hash, KEYS[2] index; ARGV[1] oldest failed_at to keep. Removes at most 500 a call.
_EXPIRE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 500)
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
"""

DEFAULT_TTL_SECONDS = 14 * 86400


@dataclass(frozen=True)
class DeadLetter:
    task_id: str
    task: str
    args: list[Any]
    reason: str  # "retries_exhausted", "rejected" or "error"
    error: str
    status: int | None = None
    codes: list[str] = field(default_factory=list)
    retries: int = 0
    event_id: str | None = None
    failed_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeadLetter:
        return cls(**json.loads(raw))


class DeadLetters:
    def __init__(self, client: redis.Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = client
        self.ttl_seconds = ttl_seconds
        self._replay = client.register_script(_REPLAY)
        self._expire = client.register_script(_EXPIRE)

    def add(self, letter: DeadLetter) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_ITEMS, letter.task_id, letter.to_json())
            pipe.zadd(_INDEX, {letter.task_id: letter.failed_at})
            pipe.execute()
        self.expire()

    def expires_at(self, letter: DeadLetter) -> float:
        return letter.failed_at + self.ttl_seconds

    def expire(self, now: float | None = None) -> int:
        """Delete the letters older than the TTL; returns how many went."""
        oldest_kept = (time.time() if now is None else now) - self.ttl_seconds
        removed = 0
        while True:
            batch = int(self._expire(keys=[_ITEMS, _INDEX], args=[oldest_kept]))
            removed += batch
            if batch < 500:
                return removed

    def list(self, limit: int = 100) -> list[DeadLetter]:
        self.expire()
        ids: list[Any] = self._redis.zrange(_INDEX, 0, limit - 1)
        if not ids:
            return []
        raws = self._redis.hmget(_ITEMS, ids)
        return [DeadLetter.from_json(raw) for raw in raws if raw is not None]

    def count(self) -> int:
        return int(self._redis.zcard(_INDEX))

    def get(self, task_id: str) -> DeadLetter | None:
        raw = self._redis.hget(_ITEMS, task_id)
        if raw is None:
            return None
        letter = DeadLetter.from_json(raw)
        return None if self.expires_at(letter) <= time.time() else letter

    def replay(self, task_id: str) -> bool:
        """Queue a dead letter's task again and remove the letter, atomically."""
        letter = self.get(task_id)
        if letter is None:
            return False
        message = celery_message(letter.task, letter.task_id, letter.args, f"replay of {task_id}")
        keys = [_ITEMS, _INDEX, QUEUE, JOURNAL, SINCE]
        return bool(self._replay(keys=keys, args=[task_id, message, time.time()]))

    def purge(self, task_id: str | None = None) -> int:
        """Delete one dead letter, or all of them; returns how many went."""
        if task_id is None:
            count = self.count()
            self._redis.delete(_ITEMS, _INDEX)
            return count
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(_ITEMS, task_id)
            pipe.zrem(_INDEX, task_id)
            deleted, _ = pipe.execute()
        return int(deleted)
