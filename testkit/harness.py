"""A whole deployment on loopback: private Redis, the local Telnyx API, the Procfile's web
process and any number of worker processes. For fault tests, the reliability report and
benchmarks."""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import redis

from core.naming import QUEUE
from followups.policy import Policy, default_rules
from followups.rules import plan
from records.journal import SINCE
from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.redis_server import RedisServer, SentinelTopology, free_port
from sandbox.signer import WebhookSigner
from telnyx_api.events import Envelope
from testkit.processes import ManagedProcess, start_web, start_worker

# Short timings, so that recovery happens in seconds rather than a minute; the relations
# between them are the production ones (WorkerSettings checks them).
FAST_RECOVERY = {
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": "6",
    "BROKER_RESTORE_INTERVAL_SECONDS": "1",
    "TELNYX_API_TIMEOUT_SECONDS": "1",
    "RETRY_BACKOFF_BASE_SECONDS": "0.05",
    "RETRY_BACKOFF_MAX_SECONDS": "0.5",
    "WORKER_SOFT_SHUTDOWN_SECONDS": "3",
    "TASK_MAX_RETRIES": "40",
    "WORKER_CONCURRENCY": "8",
    "WEB_CONCURRENCY": "2",
}


class Cluster:
    def __init__(
        self,
        *,
        persistent_redis: bool = False,
        env: Mapping[str, str] | None = None,
        sentinel: SentinelTopology | None = None,
    ) -> None:
        # With `sentinel`, Redis is that topology (the processes follow its Sentinels);
        # otherwise one private server.
        self.sentinel = sentinel
        self.redis_server = RedisServer(persistent=persistent_redis)
        # Each delivery answered with anything but 200 (Telnyx would redeliver): when, and
        # the status (None: no answer at all).
        self.refusals: list[tuple[float, int | None]] = []
        # When each body delivered was first answered 200 (time.time(), the API's clock).
        self.acknowledged: dict[bytes, float] = {}
        self.api_key = "KEY-" + secrets.token_hex(8)
        self.api = FakeTelnyxServer(self.api_key)
        self.signer = WebhookSigner()
        self.overrides = dict(FAST_RECOVERY, **(env or {}))
        self.workers: list[ManagedProcess] = []
        self.web: ManagedProcess | None = None
        self.web_url = ""

    @property
    def env(self) -> dict[str, str]:
        redis_env = self.sentinel.env if self.sentinel else {"REDIS_URL": self.redis_server.url}
        return {
            **os.environ,
            **redis_env,
            "TELNYX_API_KEY": self.api_key,
            "TELNYX_API_BASE_URL": self.api.base_url,
            "TELNYX_PUBLIC_KEY": self.signer.public_key,
            **self.overrides,
        }

    def __enter__(self) -> Cluster:
        if self.sentinel:
            self.sentinel.start()
        else:
            self.redis_server.start()
        self.api.start()
        self.api.state.hang_seconds = 2.0
        port = free_port()
        self.web = start_web(self.env, port)
        self.web_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            process.stop(timeout=10)
        self.api.stop()
        if self.sentinel:
            self.sentinel.close()
        self.redis_server.close()

    def add_worker(self, env: Mapping[str, str] | None = None) -> ManagedProcess:
        """One more worker process; `env` adds to (or overrides) the cluster's environment."""
        worker = start_worker({**self.env, **(env or {})})
        self.workers.append(worker)
        return worker

    def redis(self) -> redis.Redis:
        if self.sentinel:
            return self.sentinel.client()
        return redis.Redis.from_url(self.redis_server.url, socket_timeout=2)

    # --- delivering webhooks, as Telnyx does -------------------------------------------------
    def deliver(
        self,
        bodies: Iterable[bytes],
        *,
        concurrency: int = 16,
        deadline: float = 120.0,
        rate: float | None = None,
    ) -> list[bool]:
        """POST each body until it gets a 200 (Telnyx redelivers on anything else); with
        `rate`, first deliveries start at that many a second, as a stream of calls would."""
        with httpx.Client(timeout=5, limits=httpx.Limits(max_connections=concurrency)) as http:
            stop_at = time.monotonic() + deadline
            started = time.monotonic()

            def one(numbered: tuple[int, bytes]) -> bool:
                number, body = numbered
                if rate:
                    # Pacing the load, not synchronising with anything.
                    time.sleep(max(0.0, started + number / rate - time.monotonic()))
                return self._deliver_one(http, body, stop_at)

            with ThreadPoolExecutor(concurrency) as pool:
                return list(pool.map(one, enumerate(bodies)))

    def deliver_in_background(self, bodies: list[bytes], **kwargs: Any) -> Future[list[bool]]:
        pool = ThreadPoolExecutor(1)
        future = pool.submit(self.deliver, bodies, **kwargs)
        pool.shutdown(wait=False)
        return future

    def _deliver_one(self, http: httpx.Client, body: bytes, stop_at: float) -> bool:
        url = f"{self.web_url}/webhooks/telnyx"
        while time.monotonic() < stop_at:
            status: int | None = None
            try:
                # Signed afresh on each attempt, as Telnyx does on redelivery.
                status = http.post(url, content=body, headers=self.signer.headers(body)).status_code
                if status == 200:
                    self.acknowledged.setdefault(body, time.time())
                    return True
            except httpx.HTTPError:
                pass
            self.refusals.append((time.monotonic(), status))
            time.sleep(0.2 + random.random() * 0.2)  # redelivery back-off, as Telnyx's
        return False

    # --- waiting on conditions ---------------------------------------------------------------
    def wait_for_commands(self, count: int, timeout: float) -> bool:
        return self.api.state.wait_for(
            lambda rs: sum(1 for r in rs if r.action and 200 <= r.status < 300) >= count, timeout
        )

    def wait_until_quiet(self, timeout: float = 60.0) -> bool:
        """Until nothing is queued, held (waiting retries), unacknowledged or pending."""
        client = self.redis()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    busy = client.llen(QUEUE) + client.hlen("unacked") + client.zcard(SINCE)
                except redis.ConnectionError:
                    busy = 1
                if busy == 0:
                    return True
                time.sleep(0.1)  # polling a condition under a deadline
            return False
        finally:
            client.close()


def expected_commands(events: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """command_id -> (action, target) of every follow-up the default policy plans."""
    expected: dict[str, tuple[str, str]] = {}
    for event in events:
        for followup in plan(Envelope.model_validate(event).data, default_rules(Policy())):
            expected[str(followup.params["command_id"])] = (followup.action, followup.target)
    return expected


def expected_announcements(
    events: Iterable[Mapping[str, Any]],
) -> tuple[set[str], dict[str, list[str | None]]]:
    """The command_ids of the join and leave announcements among expected_commands, and per
    conference the names (None: unnamed) those announce: merged in the lane, they reach the API
    under other command_ids, as fewer speaks."""
    ids: set[str] = set()
    names: dict[str, list[str | None]] = {}
    for event in events:
        for followup in plan(Envelope.model_validate(event).data, default_rules(Policy())):
            if followup.announce is not None:
                ids.add(str(followup.params["command_id"]))
                names.setdefault(followup.target, []).append(followup.announce.name)
    return ids, names


def accepted_by_command(requests: list[RecordedRequest]) -> dict[str, list[RecordedRequest]]:
    accepted: dict[str, list[RecordedRequest]] = {}
    for request in requests:
        if request.action and 200 <= request.status < 300 and isinstance(request.body, dict):
            command_id = request.body.get("command_id")
            if isinstance(command_id, str):
                accepted.setdefault(command_id, []).append(request)
    return accepted


def wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling a condition under a deadline
    return True
