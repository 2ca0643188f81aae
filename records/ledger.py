"""Our own record of which follow-up actions are done, so none is performed twice.

Telnyx ignores a repeated command_id for 60 seconds; redeliveries after a crash, a Redis
restart or a replay can come much later. Before sending, a task claims its action (a lease
with an expiry, so a crashed holder cannot block it for ever); after Telnyx accepted the
command, it records the action as done. A second copy of the same task finds it done and
stops, or finds it claimed and comes back later.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence

import redis

from core.naming import KEY_PREFIX
from records.journal import JOURNAL, SINCE
from records.metrics import LATENCY, METRICS, latency_fields
from records.replication import PRIMARY_ONLY, Replication
from records.replies import text

DEFAULT_DONE_TTL_SECONDS = 48 * 3600

# KEYS[1] done, KEYS[2] claim; ARGV[1] owner, ARGV[2] lease in ms.
# Returns 'done', 'claimed' or the remaining lease in ms of another owner's claim.
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'claimed' end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'claimed'
end
return tostring(redis.call('PTTL', KEYS[2]))
"""

# KEYS[1] done, KEYS[2] claim, KEYS[3] journal, KEYS[4] journal times, KEYS[5] metrics;
# ARGV[1] TTL in seconds, ARGV[2] the task id, ARGV[3] latency sum field, ARGV[4] latency,
# ARGV[5...] counters to increment. Done, nothing left to recover, and counted: one step.
_FINISH = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
if ARGV[3] ~= '' then redis.call('HINCRBYFLOAT', KEYS[5], ARGV[3], ARGV[4]) end
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[5], ARGV[i], 1) end
return 1
"""

# KEYS[1] claim; ARGV[1] owner. Only the owner releases its claim.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Begin(enum.Enum):
    CLAIMED = "claimed"  # ours to perform
    DONE = "done"  # already performed
    BUSY = "busy"  # another worker holds the claim


class Ledger:
    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_seconds: float = 60.0,
        done_ttl_seconds: int = DEFAULT_DONE_TTL_SECONDS,
        replication: Replication = PRIMARY_ONLY,
    ) -> None:
        self._redis = client
        self._replication = replication
        self._lease_ms = int(lease_seconds * 1000)
        self._done_ttl = done_ttl_seconds
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)

    def begin(
        self, action_id: str, owner: str, lease_seconds: float | None = None
    ) -> tuple[Begin, float]:
        """Claim an action (for `lease_seconds`, or the ledger's lease); also returns the
        seconds left on a BUSY claim."""
        lease_ms = self._lease_ms if lease_seconds is None else int(lease_seconds * 1000)
        answer = self._begin(keys=self._keys(action_id), args=[owner, lease_ms])
        answer = text(answer)
        if answer in ("done", "claimed"):
            return Begin(answer), 0.0
        return Begin.BUSY, max(int(answer), 0) / 1000

    def finish(
        self,
        action_id: str,
        *,
        counters: Sequence[str] = (),
        latency: float | None = None,
        deadline_seconds: float = 20.0,
    ) -> None:
        """Record the action as done, and its task as complete in the journal. Retries through
        a short Redis outage: an action sent but not recorded would be sent again after the
        next redelivery. With REDIS_MIN_REPLICAS, returns only once replicas hold the record,
        so a failover cannot lose it after the message is acknowledged."""
        deadline = time.monotonic() + deadline_seconds
        delay = 0.1
        written = False
        while True:
            try:
                with self._redis.pipeline(transaction=False) as pipe:
                    if written:
                        # Only the WAIT fell short: write nothing new (the counters were
                        # counted), but give WAIT a write of this connection's to wait for.
                        pipe.set(self._keys(action_id)[0], "1", ex=self._done_ttl)
                    else:
                        self._finish(
                            keys=[*self._keys(action_id), JOURNAL, SINCE, METRICS],
                            args=self._finish_args(action_id, counters, latency),
                            client=pipe,
                        )
                    self._replication.wait(pipe)
                    results = pipe.execute()
                written = True
                if self._replication.required:
                    self._replication.check(results[-1])
                return
            except redis.ConnectionError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)  # backing off a reconnect, not synchronising
                delay = min(delay * 2, 2.0)

    def _finish_args(
        self, action_id: str, counters: Sequence[str], latency: float | None
    ) -> list[str | float]:
        observed: list[str | float] = (
            [f"{LATENCY}_sum", latency] if latency is not None else ["", 0]
        )
        args: list[str | float] = [self._done_ttl, action_id, *observed, *counters]
        if latency is not None:
            args += latency_fields(latency)
        return args

    def release(self, action_id: str, owner: str) -> None:
        """Give up a claim after a failure, so a retry (of any worker) can take it at once."""
        self._release(keys=[self._keys(action_id)[1]], args=[owner])

    def is_done(self, action_id: str) -> bool:
        return bool(self._redis.exists(self._keys(action_id)[0]))

    @staticmethod
    def _keys(action_id: str) -> list[str]:
        return [done_key(action_id), claim_key(action_id)]


def claim_key(action_id: str) -> str:
    """Held by the worker performing an action, until it is done or the lease lapses."""
    return f"{KEY_PREFIX}claim:{action_id}"


def done_key(action_id: str) -> str:
    """Set once an action is done (or moot): it is not performed again."""
    return f"{KEY_PREFIX}done:{action_id}"
