"""What the tasks need at run time, set once by the worker's composition root."""

from __future__ import annotations

import threading

import httpx
import redis

from core.logs import add_to_context
from core.settings import ConfigError, WorkerSettings
from followups.announcement import Chorus
from followups.followup import FollowUp
from followups.lane_policy import Timing
from followups.policy import Policy, default_rules
from followups.rules import Rule, RulesError, load_rules_file, plan
from records.clock import RedisClock
from records.deadletters import DeadLetters
from records.fleet import Fleet
from records.journal import Journal
from records.lane_store import LaneStore
from records.ledger import Ledger
from records.metrics import Metrics
from records.redis_client import redis_client
from records.replication import Replication
from tasks import limits
from tasks.command_retries import CommandRetries
from telnyx_api.client import TelnyxClient
from telnyx_api.events import Event


class Runtime:
    """Settings, policy, and per process one Telnyx client and one Redis pool (built lazily,
    so a forked pool process builds its own)."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.policy = Policy(
            recording_format=settings.recording_format,
            recording_channels=settings.recording_channels,
            announce_voice=settings.announce_voice,
            announce_language=settings.announce_language,
            announce_template=settings.announce_template,
            announce_fallback=settings.announce_fallback,
            announce_chorus=Chorus(
                template=settings.announce_merged_template,
                names=settings.announce_merged_names,
                others=settings.announce_others,
                one_other=settings.announce_one_other,
                unnamed=settings.announce_unnamed,
                conjunction=settings.announce_and,
            ),
        )
        # One planner: the built-in rules the settings fill in, replaced or extended by a rules
        # file, read and checked here at start-up (a bad file stops the worker with line and
        # reason).
        self.rules: list[Rule] = default_rules(self.policy)
        if settings.rules_file:
            try:
                found = load_rules_file(settings.rules_file)
            except RulesError as exc:
                raise ConfigError(f"RULES_FILE {exc}") from None
            self.rules = [*(self.rules if found.include_defaults else []), *found.rules]
        self.lane_timing = Timing(
            settle_ms=int(settings.conference_settle_seconds * 1000),
            spacing_ms=int(settings.announce_interval_seconds * 1000),
            max_age_ms=settings.event_max_age_seconds * 1000,
            announce_max_age_ms=settings.announce_max_age_seconds * 1000,
            # A lane waits for a late conference.created only if the rules act on it.
            wants_created=any("conference.created" in rule.on for rule in self.rules),
        )
        self._client: TelnyxClient | None = None
        self._redis: redis.Redis | None = None
        self._ledger: Ledger | None = None
        self._dead_letters: DeadLetters | None = None
        self._journal: Journal | None = None
        self._lanes: LaneStore | None = None
        self._fleet: Fleet | None = None
        self._clock: RedisClock | None = None
        self._lock = threading.Lock()

    def plan(self, event: Event) -> list[FollowUp]:
        """The follow-ups of an event under the rules in force."""
        return plan(event, self.rules)

    @property
    def client(self) -> TelnyxClient:
        with self._lock:
            if self._client is None:
                self._client = TelnyxClient(
                    self.settings.telnyx_api_key.get_secret_value(),
                    base_url=self.settings.telnyx_api_base_url,
                    timeout=self.settings.telnyx_api_timeout_seconds,
                    on_response=_note_response,
                )
            return self._client

    @property
    def redis(self) -> redis.Redis:
        with self._lock:
            if self._redis is None:
                self._redis = redis_client(
                    self.settings,
                    max_connections=self.settings.worker_redis_connections,
                    health_check_interval=30,
                )
            return self._redis

    @property
    def replication(self) -> Replication:
        return Replication(
            self.settings.redis_min_replicas, self.settings.redis_replica_timeout_seconds
        )

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(
                self.redis,
                lease_seconds=self.settings.action_lease_seconds,
                done_ttl_seconds=self.settings.action_done_ttl_seconds,
                replication=self.replication,
            )
        return self._ledger

    @property
    def dead_letters(self) -> DeadLetters:
        if self._dead_letters is None:
            self._dead_letters = DeadLetters(self.redis, self.settings.dead_letter_ttl_seconds)
        return self._dead_letters

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.redis, replication=self.replication)
        return self._journal

    @property
    def lanes(self) -> LaneStore:
        if self._lanes is None:
            self._lanes = LaneStore(
                self.redis,
                lease_seconds=self.settings.lane_lease_seconds,
                done_ttl_seconds=self.settings.action_done_ttl_seconds,
                replication=self.replication,
                timeline_ttl_seconds=self.settings.timeline_retention_hours * 3600,
                clock=self.clock.now,
            )
        return self._lanes

    @property
    def fleet(self) -> Fleet:
        if self._fleet is None:
            self._fleet = Fleet(
                self.redis,
                max_per_second=self.settings.telnyx_max_commands_per_second,
                start_per_second=self.settings.telnyx_start_commands_per_second,
                # A probe is one API call: a worker that dies holding it holds it no longer.
                probe_lease_seconds=self.settings.action_lease_seconds,
            )
        return self._fleet

    @property
    def clock(self) -> RedisClock:
        """Redis's clock, for the ETAs of the messages this process sends and receives, and
        a lane's times: measured when first asked for (the worker asks as it starts), then
        every 10 s on a thread and a connection of its own."""
        clock = self._clock
        if clock is None:
            with self._lock:
                if self._clock is None:
                    self._clock = RedisClock(redis_client(self.settings, max_connections=1))
                clock = self._clock
        # (Once, and outside the lock: the first measurement waits on Redis. Read on every
        # message with an ETA and every lane step, so no lock once it is made.)
        clock.start()
        return clock

    @property
    def metrics(self) -> Metrics:
        return Metrics(self.redis)

    def retries(self, owner: str, where: str) -> CommandRetries:
        """The hedge and the immediate retry of a command's send by `owner`."""
        after = self.settings.telnyx_hedge_after_ms / 1000
        return CommandRetries(self.fleet, self.metrics, owner, where, after)

    def close(self) -> None:
        with self._lock:
            if self._clock is not None:
                self._clock.stop()
                self._clock = None
            if self._client is not None:
                self._client.close()
                self._client = None


_current: Runtime | None = None


def configure(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("tasks.runtime.configure() was not called (see workers.app)")
    return _current


def _note_response(response: httpx.Response) -> None:
    """Put Telnyx's request id on the log lines of the work that made the request, and keep
    what it says of the rate limit for the fleet's pace (tasks/limits.py)."""
    add_to_context(telnyx_request_id=response.headers.get("x-request-id"))
    limits.record_rate_headers(response.headers)
