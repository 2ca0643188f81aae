"""FakeTelnyx, the server's state: the conferences and participants it knows, every request it
received, the faults queued or drawn at random, and the account's rate limit.

The rate limit is counted in one-second windows, each answer saying what is left in
x-ratelimit-* headers (whole seconds) and a 429 (code 10011) past it, as Telnyx documents:
https://developers.telnyx.com/development/api-fundamentals/reliability/rate-limiting
What that page leaves open (fixed or sliding windows, the reset's rounding, Retry-After) is a
setting: sandbox/api/ratelimit.py.
Commands, their fields and the conference lists follow the Conference Commands reference:
https://developers.telnyx.com/docs/api/v2/call-control/Conference-Commands
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.api import controls, ratelimit
from sandbox.api.checks import (
    CALL_ACTION_RULES,
    CONFERENCE_ACTION_RULES,
    CREATE_CONFERENCE_RULES,
    Rules,
    check,
    parse_body,
)
from sandbox.api.errors import error
from sandbox.api.faults import Fault, FaultRates, draw, fault_body
from sandbox.api.ratelimit import Counter, Rounding, Window
from sandbox.api.recorded import RecordedRequest
from sandbox.api.resources import conference, matches, page, participant

API_PREFIX = "/v2"
# The body of a 429, word for word from the rate limiting page.
TOO_MANY_REQUESTS = error(
    "10011", "Too many requests", "You have exceeded the maximum number of allowed requests."
)

# (status, headers, JSON body, when a repeated command_id was first accepted)
Answer = tuple[int, dict[str, str], Any, float | None]


class FakeTelnyx:
    """The server's state. Thread-safe; every handler thread goes through its lock."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.latency = 0.0
        self.hang_seconds = 30.0
        self.rates = FaultRates()
        # Commands a second the account may send (None: no limit), and how the limit is told.
        self.rate_limit: int | None = None
        self.rate_window = Window.FIXED
        self.reset_rounding = Rounding.UP
        self.retry_after_on_429 = True
        self._counter = Counter()
        # The clock the limit's windows follow (a test may fix it).
        self.clock: Callable[[], float] = time.time
        # Telnyx down: every command answered 503 until switched off.
        self.outage = False
        self._random = random.Random()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # (How late this thread's request is to be answered: a slow fault.)
        self._late = threading.local()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._ended: set[str] = set()
        self._conferences: dict[str, dict[str, Any]] = {}
        self._participants: dict[str, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[str, str], float] = {}
        self.accepted_commands = 0
        self.on_request: Any = None  # called with each RecordedRequest, outside the lock

    # --- what tests and tools use -------------------------------------------------------
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def commands(self, action: str | None = None) -> list[RecordedRequest]:
        """Accepted (2xx) action requests, optionally of one action."""
        return [
            r
            for r in self.requests()
            if r.action and 200 <= r.status < 300 and (action is None or r.action == action)
        ]

    def stats(self) -> dict[str, int]:
        """What /_sandbox/stats answers: requests received, commands accepted."""
        with self._lock:
            return {"requests": len(self._requests), "accepted_commands": self.accepted_commands}

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Block until predicate(list of requests) is true, or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._requests)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def clear(self) -> None:
        """Forget every request, fault, conference and participant."""
        with self._lock:
            self._requests.clear()
            self.accepted_commands = 0
            self._faults.clear()
            self._command_ids.clear()
            self._ended.clear()
            self._conferences.clear()
            self._participants.clear()
            self.rates = FaultRates()
            self.rate_limit = None
            self.rate_window = Window.FIXED
            self.reset_rounding = Rounding.UP
            self.retry_after_on_429 = True
            self._counter = Counter()
            self.clock = time.time
            self.outage = False

    def fail_next(self, count: int = 1, status: int = 500, **kwargs: Any) -> None:
        with self._lock:
            self._faults.extend(Fault(status, **kwargs) for _ in range(count))

    def faults_in_force(self) -> dict[str, Any]:
        """What /_sandbox/faults answers: the latency, the random rates and the queued faults."""
        with self._lock:
            return {
                "latency": self.latency,
                "hang_seconds": self.hang_seconds,
                "rate_limit": self.rate_limit,
                "rate_window": str(self.rate_window),
                "reset_rounding": str(self.reset_rounding),
                "retry_after_on_429": self.retry_after_on_429,
                "outage": self.outage,
                "rates": asdict(self.rates),
                "fail_next": [asdict(fault) for fault in self._faults],
            }

    def set_rates(self, rates: FaultRates) -> None:
        with self._lock:
            self.rates = rates
            self._random = random.Random(rates.seed)

    def end_conference(self, conference_id: str) -> None:
        with self._lock:
            self._ended.add(conference_id)

    def add_conference(
        self, name: str, status: str = "in_progress", **fields: Any
    ) -> dict[str, Any]:
        with self._lock:
            return self._new_conference(name, status, **fields)

    def add_participant(self, conference_id: str, call_control_id: str, **fields: Any) -> None:
        with self._lock:
            self._participants.setdefault(conference_id, []).append(
                participant(conference_id, call_control_id, **fields)
            )

    # --- serving ----------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Answer one request: (status, headers, JSON body); status 0 means hang up."""
        self._late.seconds = 0.0
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        if path.startswith(controls.ADMIN_PREFIX):
            rest = path[len(controls.ADMIN_PREFIX) :]
            return controls.answer(self, method, rest, query, raw_body)
        body, parse_error = parse_body(raw_body) if method == "POST" else (None, "")
        if self.latency:
            time.sleep(self.latency)
        with self._changed:
            status, extra_headers, answer, first_seen = self._answer(
                method, path, query, headers, body, parse_error
            )
            now = time.time()
            recorded = RecordedRequest(
                method,
                path,
                query,
                headers,
                body,
                status,
                now,
                duplicate=first_seen is not None,
                repeat_after=None if first_seen is None else now - first_seen,
            )
            self._requests.append(recorded)
            if recorded.action and 200 <= status < 300:
                self.accepted_commands += 1
            self._changed.notify_all()
        if self.on_request is not None:
            self.on_request(recorded)
        if self._late.seconds:
            time.sleep(self._late.seconds)  # (a slow fault: acted on above, answered late)
        return status, extra_headers, answer

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        parse_error: str,
    ) -> Answer:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, error("10009", "Authentication failed"), None
        command = "/actions/" in path
        if command and self.outage:
            return 503, {}, error("503", "Service unavailable"), None
        fault = self._take_fault(path)
        if fault is not None and fault.slow:
            self._late.seconds = fault.slow
        elif fault is not None:
            return fault.status, fault.headers, fault_body(fault), None
        limit_headers: dict[str, str] = {}
        if command and self.rate_limit is not None:
            over, limit_headers = self._count_against_the_limit(self.rate_limit)
            if over:
                return 429, limit_headers, TOO_MANY_REQUESTS, None
        if parse_error:
            return 400, {}, error("10015", "Bad Request", parse_error), None
        if not path.startswith(API_PREFIX + "/"):
            return 404, {}, error("10005", "Resource not found"), None
        parts = [unquote(p) for p in path[len(API_PREFIX) + 1 :].split("/")]
        status, headers_out, answer, first_seen = self._route(method, parts, query, body)
        return status, {**headers_out, **limit_headers}, answer, first_seen

    def _count_against_the_limit(self, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one command against the limit: whether it is over, and the headers Telnyx sends
        with every answer."""
        verdict = self._counter.count(self.clock(), limit, self.rate_window)
        headers = ratelimit.headers(
            limit, verdict, self.reset_rounding, retry_after=self.retry_after_on_429
        )
        return verdict.over, headers

    def _take_fault(self, path: str) -> Fault | None:
        """The first queued fault for this path; else, for a command, a random one."""
        for index, fault in enumerate(self._faults):
            if fault.path_contains in path:
                del self._faults[index]
                return fault
        if "/actions/" not in path:
            return None
        return draw(self.rates, self._random.random())

    def _route(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: Any
    ) -> Answer:
        match method, parts:
            case "POST", ["calls", call_id, "actions", action] if action in CALL_ACTION_RULES:
                return self._command(call_id, CALL_ACTION_RULES[action], body)
            case "POST", ["conferences", conf_id, "actions", action] if (
                action in CONFERENCE_ACTION_RULES
            ):
                if conf_id in self._ended:
                    return 422, {}, error("90019", "Conference has already ended"), None
                return self._command(conf_id, CONFERENCE_ACTION_RULES[action], body)
            case "POST", ["conferences"]:
                return self._create(body)
            case "GET", ["conferences"]:
                rows = [c for c in self._conferences.values() if matches(c, query)]
                return 200, {}, page(rows, query), None
            case "GET", ["conferences", conf_id]:
                if conf_id not in self._conferences:
                    return 404, {}, error("10005", "Resource not found"), None
                return 200, {}, {"data": self._conferences[conf_id]}, None
            case "GET", ["conferences", conf_id, "participants"]:
                rows = [p for p in self._participants.get(conf_id, []) if matches(p, query)]
                return 200, {}, page(rows, query), None
        return 404, {}, error("10005", "Resource not found"), None

    def _command(self, target: str, rules: Rules, body: Any) -> Answer:
        problem = check(body, rules)
        if problem is not None:
            return 422, {}, problem, None
        command_id = body.get("command_id")
        first_seen = None
        if isinstance(command_id, str):
            first_seen = self._command_ids.get((target, command_id))
            self._command_ids.setdefault((target, command_id), time.time())
        return 200, {}, {"data": {"result": "ok"}}, first_seen

    def _create(self, body: Any) -> Answer:
        problem = check(body, CREATE_CONFERENCE_RULES)
        if problem is not None:
            return 422, {}, problem, None
        active = any(
            c["name"] == body["name"] and c["status"] != "completed"
            for c in self._conferences.values()
        )
        if active:
            return 422, {}, error("90033", "Conference name already active", "", "/name"), None
        created = self._new_conference(body["name"], "in_progress")
        self._participants[created["id"]] = [participant(created["id"], body["call_control_id"])]
        return 200, {}, {"data": created}, None

    def _new_conference(self, name: str, status: str, **fields: Any) -> dict[str, Any]:
        created = conference(name, status, **fields)
        self._conferences[created["id"]] = created
        return created
