"""How the lane store calls its Lua scripts (records/lua/lanes/): each script's KEYS for one
conference's lane and ARGV by the names its header gives, the store's constant arguments filled
in, and a write waited on by the replicas when REDIS_MIN_REPLICAS asks for it. The store's own
methods, one per script, are records/lane_store.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from core.naming import QUEUE
from records import scripts
from records.deadletters import LETTER_INDEX, LETTERS
from records.fleet import KEYS as FLEET_KEYS
from records.journal import JOURNAL, SINCE
from records.metrics import LATENCY, METRICS
from records.once import lane_key
from records.replication import PRIMARY_ONLY, Replication
from records.timeline import DEFAULT_TTL_SECONDS, TIMELINE_MAX_ENTRIES, timeline_key

# How many waiting items one take reads: enough to merge a crowd's announcements.
TAKE_LIMIT = 500

APPEND = scripts.load("lanes/append")
TAKE = scripts.load("lanes/take")
# The scripts a drain's run changes its lane with are fenced (docs/lanes.md): each acts only
# for the run that holds the lane's lease while the lane's drain is still that run's.
REQUEUE = scripts.load("lanes/requeue")
PIN = scripts.load("lanes/pin")
SETTLE = scripts.load("lanes/settle")
DROP = scripts.load("lanes/drop")
HAND_OFF = scripts.load("lanes/hand_off")
MARK_SENT = scripts.load("lanes/mark_sent")

# The fleet's arguments as the pin and settle scripts name them, for a call that does not ask
# (or tell) the fleet.
NO_ASK = {f"ask_{name}": "" for name in scripts.load("fleet/ask").args}
NO_TELL = {f"tell_{name}": "" for name in scripts.load("fleet/tell").args}
LATENCY_SUM = f"{LATENCY}_sum"
# The keys every lane shares, by the names the scripts give them.
_SHARED_KEYS = {
    "journal": JOURNAL, "since": SINCE, "metrics": METRICS, "letters": LETTERS,
    "letter_index": LETTER_INDEX, **FLEET_KEYS,
}  # fmt: skip
# Counted for each waiting item found without its stored item (and dropped from the queue).
MISSING = "telnyx_lane_items_missing_total"


class LaneScripts:
    """The lane scripts, called with their arguments by name (LaneStore is their one user)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_seconds: float,
        done_ttl_seconds: int,
        queue: str = QUEUE,
        replication: Replication = PRIMARY_ONLY,
        timeline_ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        # The clock a lane's times are read by (when it was first heard of, its last
        # announcement): every worker's alike, Redis's (RedisClock.now).
        self._clock = clock
        self._lease_ms = int(lease_seconds * 1000)
        self._ttl = done_ttl_seconds
        self._queue = queue
        self._replication = replication
        # The arguments every call of the scripts that name them passes alike.
        self._constants: dict[str, Any] = {
            "lease_ms": self._lease_ms, "ttl": self._ttl, "done_ttl": self._ttl,
            "take_limit": TAKE_LIMIT, "missing_counter": MISSING,
            "latency_sum_field": LATENCY_SUM, "timeline_cap": TIMELINE_MAX_ENTRIES,
            "timeline_ttl": timeline_ttl_seconds, "note": "",
        }  # fmt: skip

    def now(self) -> float:
        """The time (epoch s) by the clock a lane's times are read by."""
        return self._clock()

    def _write(self, script: scripts.Script, keys: dict[str, Any], args: dict[str, Any]) -> Any:
        return self._replication.run_script(self._redis, script, keys, args)

    def _args(self, script: scripts.Script, **given: Any) -> dict[str, Any]:
        """The ARGV `script` names: those `given`, and the store's constants."""
        known = {**self._constants, **given}
        return {name: known[name] for name in script.arg_names}

    def _keys(
        self, script: scripts.Script, conference_id: str, **extra: str | list[str]
    ) -> dict[str, str | list[str]]:
        """The KEYS `script` names, for `conference_id`'s lane (`extra`: those of one call)."""
        base = lane_key(conference_id)
        known = {
            "state": base, "q": f"{base}:q", "items": f"{base}:items", "lease": f"{base}:lease",
            "queue": self._queue, "timeline": timeline_key(conference_id), **_SHARED_KEYS,
            **extra,
        }  # fmt: skip
        return {name: known[name] for name in script.key_names}
