"""The release check's parts every process shares: findings, settings, Redis.

The Procfile's `release` line runs the web's and the worker's checks (`python -m ingest.check`,
`conference-worker check`) before a new version takes traffic, so a typo in a variable, a
rules file that does not parse, or a Redis the app cannot reach stops the deploy instead of
the processes failing one by one after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TextIO

import redis

from core.settings import CommonSettings, ConfigError, load_settings
from records.redis_client import redis_client, sentinel_manager
from records.replies import text

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:<8}{self.subject}: {self.detail}"


def settings_finding(subject: str, cls: type[CommonSettings]) -> Finding:
    """Whether `cls` loads from the environment, with every bad variable named."""
    try:
        load_settings(cls)
    except ConfigError as exc:
        return Finding("error", subject, str(exc))
    return Finding("ok", subject, "valid")


def redis_findings(*, durability: bool = True) -> list[Finding]:
    """Whether Redis answers (and, with `durability`, whether it keeps what it is given)."""
    try:
        settings = load_settings(CommonSettings)
    except ConfigError as exc:
        return [Finding("error", "redis", str(exc))]
    return _redis(settings, durability)


def report(findings: list[Finding], out: TextIO) -> int:
    """Print one line per finding; the exit status is 1 when any is an error."""
    for finding in findings:
        print(finding, file=out)
    return 1 if any(finding.level == "error" for finding in findings) else 0


def _redis(settings: CommonSettings, durability: bool) -> list[Finding]:
    tls = "TLS" if settings.redis_tls else "no TLS"
    findings = _sentinels(settings) if settings.redis_sentinels else []
    if any(finding.level == "error" for finding in findings):
        return findings
    client = redis_client(settings)
    try:
        info: dict[str, Any] = client.info("server")
        replication: dict[str, Any] = client.info("replication")
        replicas = int(replication.get("connected_slaves", 0))
        role = replication.get("role", "?")
        findings.append(
            Finding(
                "ok",
                "redis",
                f"reachable, Redis {info.get('redis_version')}, {tls}, role {role}, "
                f"{replicas} replica(s)",
            )
        )
        if replicas < settings.redis_min_replicas:
            findings.append(
                Finding(
                    "error",
                    "redis replicas",
                    f"REDIS_MIN_REPLICAS is {settings.redis_min_replicas} but the primary has "
                    f"{replicas} connected replica(s): every webhook would be answered 503",
                )
            )
        findings.append(memory_finding(settings, client.info("memory")))
        if durability:
            findings.extend(_durability(client, settings.redis_min_replicas))
    except redis.RedisError as exc:
        # redis-py's messages name host and port, never the password.
        return [*findings, Finding("error", "redis", f"not reachable ({tls}): {exc}")]
    finally:
        client.close()
    return findings


# What an event leaves in Redis once its commands are done (used_memory, measured by
# `scripts/bench memory`: 2,000 conferences, each created and joined once; docs/benchmarks.md),
# and what a timeline adds when TIMELINE_RETENTION_HOURS is on.
RECORDS_BYTES_PER_EVENT = 136
TIMELINE_BYTES_PER_EVENT = 1480
# The share of maxmemory the records may fill: TelnyxRedisMemoryHigh fires past it.
MEMORY_FILL = 0.8


def memory_finding(settings: CommonSettings, memory: dict[str, Any]) -> Finding:
    """The memory per event the release expects, and the steady rate Redis's maxmemory then
    carries (filled to MEMORY_FILL, the rest for a backlog)."""
    timeline_s = settings.timeline_retention_hours * 3600
    held = RECORDS_BYTES_PER_EVENT * settings.action_done_ttl_seconds
    expects = (
        f"expects {RECORDS_BYTES_PER_EVENT} bytes per event for "
        f"{settings.action_done_ttl_seconds / 3600:g} h (seen and done records)"
    )
    if timeline_s:
        held += TIMELINE_BYTES_PER_EVENT * timeline_s
        expects += f", and {TIMELINE_BYTES_PER_EVENT} for {timeline_s / 3600:g} h (timelines)"
    else:
        expects += ", timelines off"
    per_rate = held / 1024**2  # MB held at one event a second
    limit = int(memory.get("maxmemory", 0))
    if not limit:
        return Finding(
            "ok", "redis memory", f"{expects}: {per_rate:.1f} MB per event/s; no maxmemory"
        )
    room = max(MEMORY_FILL * limit - int(memory.get("used_memory", 0)), 0) * 1.0
    rate = room / held
    level: Level = "ok" if rate >= 1 else "warning"
    return Finding(
        level,
        "redis memory",
        f"{expects}: {per_rate:.1f} MB per event/s; maxmemory {limit / 1024**2:.0f} MB carries "
        f"{rate:.1f} more events/s sustained to {MEMORY_FILL:.0%}",
    )


def _sentinels(settings: CommonSettings) -> list[Finding]:
    """Which Sentinels answer, and which primary they name."""
    manager = sentinel_manager(settings)
    master = str(settings.redis_sentinel_master)
    reached: list[str] = []
    named: set[str] = set()
    for (host, port), node in zip(settings.sentinel_nodes, manager.sentinels, strict=True):
        try:
            address = node.sentinel_get_master_addr_by_name(master)
        except redis.RedisError:
            continue
        finally:
            node.close()
        reached.append(f"{host}:{port}")
        if isinstance(address, tuple | list) and len(address) == 2:
            named.add(f"{text(address[0])}:{address[1]}")
    total = len(settings.sentinel_nodes)
    if not reached:
        return [Finding("error", "redis sentinel", f"none of the {total} Sentinels answered")]
    if not named:
        return [
            Finding("error", "redis sentinel", f"the Sentinels do not know a master {master!r}")
        ]
    agreed = len(named) == 1 and len(reached) == total
    return [
        Finding(
            "ok" if agreed else "warning",
            "redis sentinel",
            f"{len(reached)} of {total} Sentinels reached ({', '.join(reached)}); "
            f"master {master!r} at {', '.join(sorted(named))}",
        )
    ]


def _durability(client: redis.Redis, min_replicas: int) -> list[Finding]:
    """Warnings only: hosted Redis often hides CONFIG, and its persistence is the host's."""
    try:
        # One name a call: CONFIG GET takes several only from Redis 7.
        config = {
            text(key): text(value)
            for name in ("maxmemory-policy", "appendonly", "appendfsync", "save")
            for key, value in client.config_get(name).items()
        }
    except redis.ResponseError:
        return [
            Finding(
                "warning",
                "redis durability",
                "CONFIG is not allowed here; make sure maxmemory-policy is noeviction",
            )
        ]
    findings: list[Finding] = []
    policy = config.get("maxmemory-policy", "")
    if policy != "noeviction":
        findings.append(
            Finding(
                "warning",
                "redis durability",
                f"maxmemory-policy is {policy}: under memory pressure Redis may evict queued "
                "events; set it to noeviction",
            )
        )
    if config.get("appendonly") == "no" and not config.get("save"):
        findings.append(
            Finding(
                "warning",
                "redis durability",
                "neither AOF nor snapshots are on: a Redis restart loses the queue",
            )
        )
    fsync = config.get("appendfsync", "")
    if min_replicas == 0 and not (config.get("appendonly") == "yes" and fsync == "always"):
        findings.append(
            Finding(
                "warning",
                "redis durability",
                f"appendonly {config.get('appendonly', '?')}, appendfsync {fsync or '?'} and "
                "REDIS_MIN_REPLICAS 0: a Redis crash can lose the last second of writes, and "
                "with them which events a command in flight covered, so a join may be "
                "announced twice; set appendfsync always, or REDIS_MIN_REPLICAS with replicas",
            )
        )
    if not findings:
        findings.append(Finding("ok", "redis durability", f"maxmemory-policy {policy}"))
    return findings
