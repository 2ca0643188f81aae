"""Configuration from the environment: one typed class per process, a readable error at start-up.

Only the composition roots (`ingest.create_app`, `workers.app`) call `load_settings`;
everything below them takes explicit arguments.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.templates import check_placeholders
from telnyx_api.params import Language, RecordingChannels, RecordingFormat
from telnyx_api.transport import DEFAULT_BASE_URL

S = TypeVar("S", bound="CommonSettings")


class ConfigError(Exception):
    """The environment is missing a variable or holds an invalid one."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True
    )

    redis_url: Annotated[str, Field(min_length=1, max_length=4096)] = "redis://localhost:6379/0"
    # For rediss:// URLs. Verification is on by default; hosted Redis add-ons that present a
    # self-signed certificate (Heroku Redis) need REDIS_TLS_VERIFY=false: still encrypted,
    # but the server is not authenticated. REDIS_TLS_CA_FILE verifies against a private CA.
    redis_tls_verify: bool = True
    redis_tls_ca_file: Path | None = None
    # json: one object a line with the ids of the work (for log platforms); text: for people.
    log_format: Literal["json", "text"] = "json"

    # Redis Sentinel: "host:port,host:port" and the monitored service's name switch every
    # client to the primary the Sentinels name, and to the new one after a failover.
    # REDIS_URL then supplies the password, the database and rediss:// (its host is unused).
    redis_sentinels: Annotated[str | None, Field(max_length=4096)] = None
    redis_sentinel_master: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    redis_sentinel_password: SecretStr | None = None
    # Replica-acknowledged writes: a webhook is answered 200, and a worker acknowledges a
    # message, only once the writes that matter have reached this many replicas (Redis WAIT).
    # 0: on the primary only (a failover can lose the last moment of them).
    redis_min_replicas: Annotated[int, Field(ge=0, le=16)] = 0
    # How long one WAIT may take; the web answers 503 past it (well inside Telnyx's 2 s).
    redis_replica_timeout_seconds: Annotated[float, Field(gt=0, le=1.5)] = 0.5
    # Dead letters keep a task's arguments (spoken text, client_state): caller data, so they
    # are deleted this long after the action failed, replayed or not.
    dead_letter_ttl_seconds: Annotated[int, Field(ge=3600, le=366 * 86400)] = 14 * 86400
    # A conference's timeline (`conference-worker timeline`): what the service did for it, kept
    # this long after its last entry (each conference's capped at TIMELINE_MAX_ENTRIES). It
    # protects no guarantee, and costs several times what exactly-once keeps (docs/benchmarks.md,
    # "Redis memory per event"): 0, the default, keeps none; turn it on for incidents.
    timeline_retention_hours: Annotated[int, Field(ge=0, le=30 * 24)] = 0
    # The age rules (the worker acts by them; a replay reports what is past them as moot).
    # An event older than this when its action would run is not acted on: no announcement
    # for a participant who joined an hour ago.
    event_max_age_seconds: Annotated[int, Field(ge=10, le=7 * 86400)] = 900
    # The same for an announcement, moot sooner: retried (through an outage, say) only until
    # its event is this old, then given up on as expired. A rule's max_age overrides both.
    announce_max_age_seconds: Annotated[int, Field(ge=10, le=7 * 86400)] = 120
    # How long the ledger remembers an action done (and a lane its state) after its last write.
    # A done record keeps a copy of its event (a redelivery once its seen record has gone, a
    # message restored by the journal, a dead letter replayed) from acting twice; Telnyx's own
    # command_id window covers 60 s only. It must outlive the event's seen record
    # (WEBHOOK_DEDUPE_TTL_SECONDS) and every age rule (EVENT_MAX_AGE_SECONDS and the rules'
    # max_age: past those a copy is not acted on anyway); the default, two days, matches the
    # seen record's. Shorter: a late copy of an event finds no record and, past its age rule,
    # is dead-lettered as expired although it was done.
    action_done_ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 48 * 3600

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        # TLS options in the query would reach redis-py and kombu but not Flower's broker
        # view; one place for them (the variables below) keeps every client alike.
        if any(name.startswith("ssl") for name, _ in parse_qsl(urlsplit(value).query)):
            raise ValueError(
                "must not carry ssl_* options; set REDIS_TLS_VERIFY or REDIS_TLS_CA_FILE instead"
            )
        return value

    @field_validator("redis_tls_ca_file")
    @classmethod
    def _ca_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _tls_options_need_tls(self) -> CommonSettings:
        if self.redis_tls_ca_file is not None and not self.redis_url.startswith("rediss://"):
            raise ValueError("REDIS_TLS_CA_FILE is set but REDIS_URL does not use rediss:// (TLS)")
        return self

    @field_validator(
        "redis_sentinels", "redis_sentinel_master", "redis_sentinel_password", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable (compose's ${REDIS_SENTINELS:-}) means "not set".
        return None if value == "" else value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_sentinels(value)
            return value
        return None

    @model_validator(mode="after")
    def _sentinel_pair(self) -> CommonSettings:
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError(
                "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: set both or neither"
            )
        if self.redis_sentinels and self.redis_url.startswith("unix://"):
            raise ValueError("REDIS_URL must be redis:// or rediss:// with REDIS_SENTINELS")
        return self

    @property
    def sentinel_nodes(self) -> list[tuple[str, int]]:
        """The Sentinels' addresses; empty without Sentinel."""
        return parse_sentinels(self.redis_sentinels) if self.redis_sentinels else []

    @property
    def broker_url(self) -> str:
        """Celery's broker URL: REDIS_URL, or kombu's sentinel:// list carrying its password
        and database."""
        if not self.redis_sentinels:
            return self.redis_url
        parts = urlsplit(self.redis_url)
        userinfo = parts.netloc.rpartition("@")[0]
        userinfo = f"{userinfo}@" if userinfo else ""
        database = parts.path.lstrip("/") or "0"
        return ";".join(
            f"sentinel://{userinfo}{host}:{port}/{database}" for host, port in self.sentinel_nodes
        )

    @property
    def sentinel_kwargs(self) -> dict[str, Any]:
        """How every client (ours and kombu's) talks to the Sentinels themselves."""
        options: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}
        if self.redis_sentinel_password is not None:
            options["password"] = self.redis_sentinel_password.get_secret_value()
        return options

    @property
    def broker_sentinel_options(self) -> dict[str, Any]:
        """kombu transport options for Sentinel; empty without it."""
        if not self.redis_sentinels:
            return {}
        return {"master_name": self.redis_sentinel_master, "sentinel_kwargs": self.sentinel_kwargs}

    @property
    def redis_tls(self) -> dict[str, Any] | None:
        """TLS options for every Redis client (redis-py, kombu, Flower); None without TLS.

        Given explicitly because kombu, unlike redis-py, would otherwise take a rediss:// URL
        without options as "do not verify".
        """
        if not self.redis_url.startswith("rediss://"):
            return None
        options: dict[str, Any] = {
            "ssl_cert_reqs": ssl.CERT_REQUIRED if self.redis_tls_verify else ssl.CERT_NONE
        }
        if self.redis_tls_ca_file is not None:
            options["ssl_ca_certs"] = str(self.redis_tls_ca_file)
        return options

    @property
    def redis_options(self) -> dict[str, Any]:
        """Keyword arguments for redis.Redis.from_url beside the URL."""
        return self.redis_tls or {}


# Telnyx ignores a command whose command_id it has seen within this many seconds.
TELNYX_COMMAND_WINDOW_SECONDS = 60
# A command sent with no answer is sent again only this long after its first such send (s),
# by Redis's clock: inside Telnyx's window, less a margin for the moments between the check and
# the request reaching Telnyx (the drain sends within SEND_GRACE_SECONDS of it, or checks
# again); past it, its outcome is unknown.
RESEND_WINDOW_SECONDS = TELNYX_COMMAND_WINDOW_SECONDS - 3
SEND_GRACE_SECONDS = 1.0


class WorkerSettings(CommonSettings):
    telnyx_api_key: SecretStr
    telnyx_api_base_url: str = DEFAULT_BASE_URL
    telnyx_api_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    # Telnyx's Command Retries page: no answer within 500 ms, send an identical command (0: never).
    telnyx_hedge_after_ms: Annotated[int, Field(ge=0, le=10_000)] = 500

    recording_format: RecordingFormat = "mp3"
    recording_channels: RecordingChannels = "single"
    announce_voice: Annotated[str, Field(min_length=1, max_length=255)] = "female"
    announce_language: Language = "en-US"
    announce_template: Annotated[str, Field(min_length=1, max_length=1000)] = (
        "{name} has joined the conference."
    )
    announce_fallback: Annotated[str, Field(min_length=1, max_length=1000)] = (
        "A new participant has joined the conference."
    )

    # Merged announcements (several joins waiting in one conference's lane at once):
    # "Ada Lovelace, Grace Hopper and 37 others have joined the conference."
    announce_merged_template: Annotated[str, Field(min_length=1, max_length=1000)] = (
        "{names} have joined the conference."
    )
    announce_merged_names: Annotated[int, Field(ge=0, le=20)] = 3
    announce_others: Annotated[str, Field(min_length=1, max_length=200)] = "{count} others"
    announce_one_other: Annotated[str, Field(min_length=1, max_length=200)] = "one other"
    announce_unnamed: Annotated[str, Field(min_length=1, max_length=200)] = "{count} participants"
    announce_and: Annotated[str, Field(min_length=1, max_length=50)] = "and"
    # The least time between two announcements of one conference; joins meanwhile are merged.
    announce_interval_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    # A conference whose first event is not its conference.created waits this long for it
    # (when the rules act on conference.created), so that its recording still starts first.
    conference_settle_seconds: Annotated[float, Field(ge=0, le=30)] = 1.0

    task_max_retries: Annotated[int, Field(ge=0, le=100)] = 10
    retry_backoff_base_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    retry_backoff_max_seconds: Annotated[float, Field(gt=0, le=600)] = 20.0
    # A cap on the commands the whole fleet sends a second, below what Telnyx's own
    # x-ratelimit-* headers allow (which the fleet follows anyway); unset: none of ours.
    telnyx_max_commands_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # The fleet's pace while it has not learned Telnyx's limit from its headers: at start, after
    # its state in Redis is lost, and after an outage (the circuit closing), so that commands
    # waiting then do not all go at once. Keep it under the account's limit.
    telnyx_start_commands_per_second: Annotated[int, Field(ge=1, le=100_000)] = 10

    # How long a message may stay unacknowledged before Redis hands it to another worker.
    # It must exceed any retry countdown plus an API call, or a waiting retry would run twice;
    # and it bounds how soon a dead worker's actions are redone: 50 s plus the 5 s sweep keeps
    # even a resend of a command cut off mid-flight inside Telnyx's 60 s command_id window.
    broker_visibility_timeout_seconds: Annotated[int, Field(ge=5, le=3600)] = 50
    broker_restore_interval_seconds: Annotated[int, Field(ge=1, le=60)] = 5
    # On SIGTERM, how long running actions get to finish before they are requeued; under the
    # 30 s a PaaS waits before SIGKILL.
    worker_soft_shutdown_seconds: Annotated[float, Field(ge=0, le=25)] = 20.0
    worker_prefetch_multiplier: Annotated[int, Field(ge=1, le=16)] = 2
    worker_send_task_events: bool = False
    # Connections the worker's threads share for the ledger, journal, dead letters and metrics
    # (each holds one only for a command); the broker's own connections come on top.
    worker_redis_connections: Annotated[int, Field(ge=1, le=1024)] = 8
    # A TOML file of follow-up rules (followups/rules.py); unset: record on create, announce joins.
    rules_file: str | None = None

    @property
    def action_lease_seconds(self) -> float:
        """How long a claim on an action lasts: longer than one API call can take."""
        return 2 * self.telnyx_api_timeout_seconds + 2

    @property
    def redis_outage_grace_seconds(self) -> float:
        """How long a task waits out a Redis outage before it requeues its message: half the
        visibility timeout, so the message is still its own when Redis is back."""
        return self.broker_visibility_timeout_seconds / 2

    @property
    def lane_lease_seconds(self) -> float:
        """How long a drain's hold on its lane (and its claim on the command it sends) lasts
        between two of its writes: longer than the longest step between them, an API call
        (connect plus read) followed by a Redis outage waited out. A run that still outlives
        it changes nothing (every lane write checks the lease), but the run that takes over
        resends its command when the claim lapses, which Telnyx ignores only within 60 s."""
        return 2 * self.telnyx_api_timeout_seconds + self.redis_outage_grace_seconds + 2

    @model_validator(mode="after")
    def _visibility_covers_retries(self) -> WorkerSettings:
        needed = self.retry_backoff_max_seconds + self.action_lease_seconds
        if self.broker_visibility_timeout_seconds <= needed:
            raise ValueError(
                f"BROKER_VISIBILITY_TIMEOUT_SECONDS must exceed {needed:.0f} "
                "(RETRY_BACKOFF_MAX_SECONDS plus two API timeouts and 2 s), "
                "or a waiting retry would be handed to a second worker"
            )
        if self.lane_lease_seconds >= TELNYX_COMMAND_WINDOW_SECONDS:
            raise ValueError(
                f"two TELNYX_API_TIMEOUT_SECONDS plus half of BROKER_VISIBILITY_TIMEOUT_SECONDS "
                f"plus 2 s (the lanes' lease, {self.lane_lease_seconds:g}s) must stay under "
                f"{TELNYX_COMMAND_WINDOW_SECONDS}s, the time Telnyx ignores a repeated "
                "command_id: a command resent after the lease lapses could run twice; lower "
                "TELNYX_API_TIMEOUT_SECONDS or BROKER_VISIBILITY_TIMEOUT_SECONDS"
            )
        return self

    @field_validator("telnyx_api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("telnyx_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("announce_template")
    @classmethod
    def _only_name_placeholder(cls, value: str) -> str:
        return check_placeholders(value, {"name"})

    @field_validator("announce_merged_template")
    @classmethod
    def _only_names_placeholder(cls, value: str) -> str:
        return check_placeholders(value, {"names"})

    @field_validator("announce_others", "announce_unnamed")
    @classmethod
    def _only_count_placeholder(cls, value: str) -> str:
        return check_placeholders(value, {"count"})

    @field_validator("announce_one_other", "announce_and")
    @classmethod
    def _no_placeholder(cls, value: str) -> str:
        return check_placeholders(value, set())


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """ "host:port,host:port" -> [(host, port)]; ValueError naming a bad entry."""
    nodes = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not host:port")
        nodes.append((host, int(port)))
    if not nodes:
        raise ValueError("must name at least one host:port")
    return nodes


def load_settings(cls: type[S]) -> S:
    """Read the settings from the environment, or raise ConfigError naming each bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = (
                "is required"
                if error["type"] == "missing"
                else error["msg"].removeprefix("Value error, ")
            )
            # A check across variables names them in its message; others get their name first.
            name = str(error["loc"][0]).upper() if error["loc"] else ""
            problems.append(f"{name} {message}" if name else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
