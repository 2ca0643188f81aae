"""Counters shared by every process, kept in Redis, rendered for Prometheus by the web process.

Web and worker processes come and go and scale out; a counter in one process's memory would
be lost at each restart and hidden from the process serving /metrics. So counters live in one
Redis hash, incremented in the same Redis step as the work they count where possible (queueing
a webhook, recording an action done), and `render` turns them into the Prometheus text format.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from core.naming import KEY_PREFIX

METRICS = f"{KEY_PREFIX}metrics"
# Each worker process's last sign of life (sorted set: name -> when), written by its sweeper.
WORKERS = f"{KEY_PREFIX}workers"
# A worker not seen for this long no longer counts as consuming.
WORKER_SEEN_SECONDS = 30.0
# End-to-end latency buckets (seconds): from Telnyx's occurred_at to the command accepted.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY = "telnyx_action_latency_seconds"

HELP = {
    "telnyx_webhooks_received_total": ("counter", "Webhook deliveries received."),
    "telnyx_webhooks_enqueued_total": ("counter", "Webhook deliveries queued for the workers."),
    "telnyx_webhooks_duplicate_total": ("counter", "Redeliveries of events already queued."),
    "telnyx_webhooks_rejected_total": ("counter", "Webhook deliveries refused, by reason."),
    "telnyx_actions_total": ("counter", "Follow-up actions by action and outcome."),
    "telnyx_lane_items_missing_total": (
        "counter",
        "Waiting lane items whose stored item was gone (evicted, or deleted by hand): dropped.",
    ),
    LATENCY: ("histogram", "From the event's occurred_at to Telnyx accepting the command."),
    "telnyx_queue_depth": ("gauge", "Task messages waiting in the queue."),
    "telnyx_queue_age_seconds": (
        "gauge",
        "How long the oldest message waiting in the queue has waited (0 when none waits).",
    ),
    "telnyx_workers": ("gauge", "Worker processes seen consuming in the last 30 seconds."),
    "telnyx_redis_up": ("gauge", "Whether the web process could read Redis for this page."),
    "telnyx_redis_used_memory_bytes": ("gauge", "The memory Redis uses (INFO's used_memory)."),
    "telnyx_redis_maxmemory_bytes": (
        "gauge",
        "The most memory Redis may use (its maxmemory; 0: no limit set). Past it, Redis "
        "(noeviction) refuses writes.",
    ),
    "telnyx_rate_limited_total": ("counter", "Commands Telnyx answered 429 (too many requests)."),
    "telnyx_pace_limit": (
        "gauge",
        "Commands a rate window Telnyx allows, as its x-ratelimit-limit says (0: not known yet; "
        "the fleet goes at TELNYX_START_COMMANDS_PER_SECOND).",
    ),
    "telnyx_pace_window_seconds": ("gauge", "The length of Telnyx's rate window, as learned."),
    "telnyx_pace_sent_in_window": (
        "gauge",
        "Commands the fleet counts as sent in the current rate window (those in flight too).",
    ),
    "telnyx_pace_waiting": (
        "gauge",
        "Commands waiting in the fleet's queue for room in Telnyx's rate limit, by priority.",
    ),
    "telnyx_pace_waits_total": (
        "counter",
        "Commands that waited in the fleet's queue before they went, by priority.",
    ),
    "telnyx_pace_wait_seconds_total": (
        "counter",
        "Time commands waited in the fleet's queue before they went, by priority.",
    ),
    "telnyx_circuit_state": (
        "gauge",
        "1 while the circuit is open (Telnyx failing: the fleet only probes it), else 0.",
    ),
    "telnyx_circuit_opened_total": ("counter", "Times the fleet's circuit opened."),
    "telnyx_command_hedges_total": (
        "counter",
        "Commands sent again, identical, for want of an answer in TELNYX_HEDGE_AFTER_MS, by how "
        "it ended: hedge_won, first_won, both_failed, not_sent (the pace allowed none in time).",
    ),
    "telnyx_circuit_open_seconds_total": ("counter", "Time the circuit has spent open."),
}


def field(name: str, labels: Mapping[str, str] | None = None) -> str:
    """The hash field of one series: name{label="value",...}."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def latency_fields(seconds: float) -> list[str]:
    """The fields one observation increments (cumulative buckets, count); sum is separate."""
    buckets = [field(f"{LATENCY}_bucket", {"le": str(b)}) for b in LATENCY_BUCKETS if seconds <= b]
    return [*buckets, field(f"{LATENCY}_bucket", {"le": "+Inf"}), f"{LATENCY}_count"]


class Metrics:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def incr(self, name: str, labels: Mapping[str, str] | None = None, amount: int = 1) -> None:
        self._redis.hincrby(METRICS, field(name, labels), amount)

    def incr_many(self, amounts: Mapping[str, int]) -> None:
        """Several series at once (their fields, as `field` makes them), in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for series, amount in amounts.items():
                pipe.hincrby(METRICS, series, amount)
            pipe.execute()

    def observe_latency(self, seconds: float) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            for name in latency_fields(seconds):
                pipe.hincrby(METRICS, name, 1)
            pipe.hincrbyfloat(METRICS, f"{LATENCY}_sum", seconds)
            pipe.execute()

    def worker_seen(self, worker: str) -> None:
        """`worker` is alive and consuming now (telnyx_workers counts those seen lately);
        workers gone for five minutes are forgotten."""
        now = time.time()
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(WORKERS, {worker: now})
            pipe.zremrangebyscore(WORKERS, "-inf", now - 300)
            pipe.execute()

    def snapshot(self) -> dict[str, float]:
        raw = self._redis.hgetall(METRICS)
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}

    def render(
        self,
        queue_depth: int,
        queue_age: float = 0.0,
        workers: int = 0,
        fleet: Mapping[str, str] | None = None,
        memory: Mapping[str, Any] | None = None,
    ) -> str:
        values = self.snapshot()
        fleet = fleet or {}
        values["telnyx_pace_limit"] = float(fleet.get("limit", 0))
        values["telnyx_pace_window_seconds"] = float(fleet.get("window", 0)) / 1000
        values["telnyx_circuit_state"] = 1.0 if fleet.get("state") == "open" else 0.0
        values["telnyx_pace_sent_in_window"] = float(fleet.get("sent", 0))
        for priority in ("first", "normal"):
            waiting = float(fleet.get(f"waiting_{priority}", 0))
            values[field("telnyx_pace_waiting", {"priority": priority})] = waiting
        values["telnyx_queue_depth"] = float(queue_depth)
        values["telnyx_queue_age_seconds"] = round(queue_age, 3)
        values["telnyx_workers"] = float(workers)
        values["telnyx_redis_up"] = 1.0
        memory = memory or {}
        values["telnyx_redis_used_memory_bytes"] = float(memory.get("used_memory", 0))
        values["telnyx_redis_maxmemory_bytes"] = float(memory.get("maxmemory", 0))
        # Every bucket is always shown, as Prometheus histograms expect.
        for bound in [*map(str, LATENCY_BUCKETS), "+Inf"]:
            values.setdefault(field(f"{LATENCY}_bucket", {"le": bound}), 0.0)
        values.setdefault(f"{LATENCY}_sum", 0.0)
        values.setdefault(f"{LATENCY}_count", 0.0)
        received = sum(
            v
            for k, v in values.items()
            if _base(k)
            in (
                "telnyx_webhooks_enqueued_total",
                "telnyx_webhooks_duplicate_total",
                "telnyx_webhooks_rejected_total",
            )
        )
        values["telnyx_webhooks_received_total"] = received
        return "".join(_family(name, kind, text, values) for name, (kind, text) in HELP.items())


def redis_down_page() -> str:
    """The page when Redis cannot be read: only that, so an alert can say so."""
    kind, text = HELP["telnyx_redis_up"]
    return f"# HELP telnyx_redis_up {text}\n# TYPE telnyx_redis_up {kind}\ntelnyx_redis_up 0\n"


def _family(name: str, kind: str, text: str, values: Mapping[str, float]) -> str:
    lines = [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
    series = sorted(
        (k, v) for k, v in values.items() if _base(k) == name or _base(k).startswith(f"{name}_")
    )
    if kind == "histogram":
        series = _histogram_order(series)
    lines += [f"{k} {_number(v)}" for k, v in series]
    if len(lines) == 2 and kind != "histogram":
        lines.append(f"{name} 0")
    return "\n".join(lines) + "\n"


def _histogram_order(series: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    def key(item: tuple[str, float]) -> tuple[int, float]:
        match = re.search(r'le="([^"]+)"', item[0])
        if match:
            return 0, float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        return (1, 0.0) if item[0].endswith("_sum") else (2, 0.0)

    return sorted(series, key=key)


def _base(series: str) -> str:
    return series.split("{", 1)[0]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
