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
from typing import Any

import redis

from core.naming import KEY_PREFIX
from records import scripts
from records.journal import JOURNAL, SINCE
from records.metrics import LATENCY, METRICS, latency_fields
from records.once import done_key, lane_key
from records.replication import PRIMARY_ONLY, Replication
from records.replies import text

DEFAULT_DONE_TTL_SECONDS = 48 * 3600

_BEGIN = scripts.load("ledger/begin")
_FINISH = scripts.load("ledger/finish")
_RELEASE = scripts.load("ledger/release")


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

    def begin(
        self,
        action_id: str,
        owner: str,
        lease_seconds: float | None = None,
        *,
        conference_id: str | None = None,
    ) -> tuple[Begin, float]:
        """Claim an action (for `lease_seconds`, or the ledger's lease); also returns the
        seconds left on a BUSY claim. A conference lane's action (`conference_id`) has its done
        record in the conference's lane hash (records/once.py)."""
        lease_ms = self._lease_ms if lease_seconds is None else int(lease_seconds * 1000)
        done, claim = self._keys(action_id)
        lane = lane_key(conference_id) if conference_id is not None else done
        answer = text(
            _BEGIN.run(
                self._redis,
                keys={"done": done, "claim": claim, "lane": lane},
                args={"owner": owner, "lease_ms": lease_ms},
            )
        )
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
        done, claim = self._keys(action_id)
        send = scripts.pipelined(self._redis)
        while True:
            try:
                if written:
                    # Only the WAIT fell short: write nothing new (the counters were
                    # counted), but give WAIT a write of this connection's to wait for.
                    results = send(
                        [("SET", done, "1", "EX", self._done_ttl), *self._replication.waits]
                    )
                else:
                    keys = {
                        "done": done,
                        "claim": claim,
                        "journal": JOURNAL,
                        "since": SINCE,
                        "metrics": METRICS,
                    }
                    argv = _FINISH.argv(keys, self._finish_args(action_id, counters, latency))
                    results = scripts.run_batch(send, [(_FINISH, argv)], self._replication.waits)
                scripts.raise_errors(results)
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
    ) -> dict[str, Any]:
        return {
            "done_ttl": self._done_ttl,
            "task_id": action_id,
            "latency_sum_field": f"{LATENCY}_sum" if latency is not None else "",
            "latency": latency if latency is not None else 0,
            "counters": [*counters, *(latency_fields(latency) if latency is not None else [])],
        }

    def release(self, action_id: str, owner: str) -> None:
        """Give up a claim after a failure, so a retry (of any worker) can take it at once."""
        _RELEASE.run(self._redis, keys={"claim": self._keys(action_id)[1]}, args={"owner": owner})

    def is_done(self, action_id: str) -> bool:
        return bool(self._redis.exists(self._keys(action_id)[0]))

    @staticmethod
    def _keys(action_id: str) -> list[str]:
        return [done_key(action_id), claim_key(action_id)]


def claim_key(action_id: str) -> str:
    """Held by the worker performing an action, until it is done or the lease lapses."""
    return f"{KEY_PREFIX}claim:{action_id}"
