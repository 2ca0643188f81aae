"""A local Telnyx-compatible API server for development, tests and benchmarks.

It serves the conference and queue endpoints on loopback, checks the bearer key and the
required fields like the real API (422 with a Telnyx-style error body), keeps a little state
(conferences created through it; conferences marked ended answer 422 90019), records every
request, and injects faults on demand: latency, 5xx, 429 and timeouts, either for the next N
requests or at random rates.

Its field checks are deliberately its own table, not the client's models: a test against this
server checks the client, rather than the client against itself.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_PREFIX = "/v2"
ADMIN_PREFIX = "/_sandbox/"
MAX_BODY = 1024 * 1024

_REGIONS = ("Australia", "Europe", "Middle East", "US")
_BEEP = ("always", "never", "on_enter", "on_exit")
_ROLE = ("barge", "monitor", "none", "whisper")

# action -> (required fields, {field: allowed values})
CONFERENCE_ACTION_RULES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "hold": ((), {"region": _REGIONS}),
    "unhold": (("call_control_ids",), {"region": _REGIONS}),
    "join": (("call_control_id",), {"beep_enabled": _BEEP, "supervisor_role": _ROLE}),
    "leave": (("call_control_id",), {"beep_enabled": _BEEP}),
    "mute": ((), {"region": _REGIONS}),
    "unmute": ((), {"region": _REGIONS}),
    "play": ((), {"region": _REGIONS}),
    "stop": ((), {"region": _REGIONS}),
    "speak": (("payload", "voice"), {"payload_type": ("text", "ssml")}),
    "record_start": (("format",), {"format": ("wav", "mp3"), "channels": ("single", "dual")}),
    "record_pause": ((), {}),
    "record_resume": ((), {}),
    "record_stop": ((), {}),
    "update": (("call_control_id", "supervisor_role"), {"supervisor_role": _ROLE}),
}
CALL_ACTION_RULES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "enqueue": (("queue_name",), {}),
    "leave_queue": ((), {}),
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    received_at: float
    # A command_id already accepted for this target, and how long after the first: Telnyx
    # ignores a repeat within 60 s.
    duplicate: bool = False
    repeat_after: float | None = None

    @property
    def action(self) -> str | None:
        """`record_start` for POST .../actions/record_start, else None."""
        parts = self.path.split("/")
        return parts[-1] if len(parts) >= 2 and parts[-2] == "actions" else None

    @property
    def target(self) -> str | None:
        """The decoded conference or call id of an action request."""
        parts = self.path.split("/")
        return unquote(parts[-3]) if self.action and len(parts) >= 4 else None


@dataclass
class Fault:
    """One injected failure: an HTTP error, or a hang with no answer (`status=0`)."""

    status: int
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str = ""


@dataclass
class FaultRates:
    """Random faults, applied to action requests only (reads stay reliable)."""

    server_error: float = 0.0
    rate_limited: float = 0.0
    timeout: float = 0.0
    retry_after: float | None = None
    seed: int | None = None


class FakeTelnyx:
    """The server's state. Thread-safe; every handler thread goes through its lock."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.latency = 0.0
        self.hang_seconds = 30.0
        self.rates = FaultRates()
        # Commands a second the account may send (None: no limit), as Telnyx counts them: in
        # one-second windows, each answer saying what is left in x-ratelimit-* headers, a 429
        # (code 10011) past it.
        self.rate_limit: int | None = None
        self._window = (0, 0)  # (second, commands counted in it)
        # Telnyx down: every command answered 503 until switched off.
        self.outage = False
        self._random = random.Random()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
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
                _participant(conference_id, call_control_id, **fields)
            )

    # --- serving ----------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Answer one request: (status, headers, JSON body); status 0 means hang up."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        if path.startswith(ADMIN_PREFIX):
            return self._admin(method, path[len(ADMIN_PREFIX) :], query, raw_body)
        body, parse_error = _parse_body(raw_body) if method == "POST" else (None, "")
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
        return status, extra_headers, answer

    def _admin(
        self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Loopback-only controls for tools that run the server in another process."""
        match method, path:
            case "GET", "stats":
                with self._lock:
                    stats = {
                        "requests": len(self._requests),
                        "accepted_commands": self.accepted_commands,
                    }
                return 200, {}, stats
            case "GET", "requests":
                since = int(query.get("since", ["0"])[-1])
                return 200, {}, {"data": [asdict(r) for r in self.requests()[since:]]}
            case "POST", "reset":
                self.clear()
                return 200, {}, {"result": "ok"}
            case "GET", "reset":
                return 405, {"allow": "POST"}, _error("10015", "Bad Request", "POST to reset")
            case "GET", "faults":
                return 200, {}, self.faults_in_force()
            case "POST", "faults":
                body, error = _parse_body(raw_body)
                problem = error or _faults_problem(body)
                if problem:
                    return 400, {}, _error("10015", "Bad Request", problem)
                if "latency" in body:
                    self.latency = float(body["latency"])
                if "hang_seconds" in body:
                    self.hang_seconds = float(body["hang_seconds"])
                if "rate_limit" in body:
                    self.rate_limit = body["rate_limit"]
                if "outage" in body:
                    self.outage = bool(body["outage"])
                if "rates" in body:
                    self.set_rates(FaultRates(**body["rates"]))
                for fault in body.get("fail_next", []):
                    fault = dict(fault)
                    self.fail_next(int(fault.pop("count", 1)), **fault)
                return 200, {}, self.faults_in_force()
        return 404, {}, _error("10005", "Resource not found")

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        parse_error: str,
    ) -> tuple[int, dict[str, str], Any, float | None]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error("10009", "Authentication failed"), None
        command = "/actions/" in path
        if command and self.outage:
            return 503, {}, _error("503", "Service unavailable"), None
        fault = self._take_fault(path)
        if fault is not None:
            return fault.status, fault.headers, _fault_body(fault), None
        limit_headers: dict[str, str] = {}
        if command and self.rate_limit is not None:
            over, limit_headers = self._count_against_the_limit(self.rate_limit)
            if over:
                error = _error("10011", "Too many requests")
                return 429, limit_headers, error, None
        if parse_error:
            return 400, {}, _error("10015", "Bad Request", parse_error), None
        if not path.startswith(API_PREFIX + "/"):
            return 404, {}, _error("10005", "Resource not found"), None
        parts = [unquote(p) for p in path[len(API_PREFIX) + 1 :].split("/")]
        status, headers_out, answer, first_seen = self._route(method, parts, query, body)
        return status, {**headers_out, **limit_headers}, answer, first_seen

    def _count_against_the_limit(self, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one command in this second's window: whether it is over the limit, and the
        headers Telnyx sends with every answer."""
        now = time.time()
        second = int(now)
        start, used = self._window
        used = used + 1 if start == second else 1
        self._window = (second, used)
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - used, 0)),
            "x-ratelimit-reset": f"{second + 1 - now:.3f}",
        }
        return used > limit, headers

    def _take_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.path_contains in path:
                del self._faults[index]
                return fault
        if "/actions/" not in path:
            return None
        rates, roll = self.rates, self._random.random()
        retry = {"retry-after": str(rates.retry_after)} if rates.retry_after is not None else {}
        if roll < rates.server_error:
            return Fault(503)
        if roll < rates.server_error + rates.rate_limited:
            return Fault(429, "10011", headers={"x-ratelimit-reset": "1", **retry})
        if roll < rates.server_error + rates.rate_limited + rates.timeout:
            return Fault(0)
        return None

    def _route(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any, float | None]:
        match method, parts:
            case "POST", ["calls", call_id, "actions", action] if action in CALL_ACTION_RULES:
                return self._command(call_id, action, CALL_ACTION_RULES[action], body)
            case "POST", ["conferences", conf_id, "actions", action] if (
                action in CONFERENCE_ACTION_RULES
            ):
                if conf_id in self._ended:
                    error = _error("90019", "Conference has already ended")
                    return 422, {}, error, None
                return self._command(conf_id, action, CONFERENCE_ACTION_RULES[action], body)
            case "POST", ["conferences"]:
                return self._create(body)
            case "GET", ["conferences"]:
                rows = [c for c in self._conferences.values() if _matches(c, query)]
                return (200, {}, _page(rows, query), None)
            case "GET", ["conferences", conf_id]:
                if conf_id not in self._conferences:
                    return 404, {}, _error("10005", "Resource not found"), None
                return 200, {}, {"data": self._conferences[conf_id]}, None
            case "GET", ["conferences", conf_id, "participants"]:
                rows = [p for p in self._participants.get(conf_id, []) if _matches(p, query)]
                return 200, {}, _page(rows, query), None
        return 404, {}, _error("10005", "Resource not found"), None

    def _command(
        self,
        target: str,
        action: str,
        rules: tuple[tuple[str, ...], dict[str, tuple[str, ...]]],
        body: Any,
    ) -> tuple[int, dict[str, str], Any, float | None]:
        problem = _check(body, *rules)
        if problem is not None:
            return 422, {}, problem, None
        command_id = body.get("command_id")
        first_seen = None
        if isinstance(command_id, str):
            first_seen = self._command_ids.get((target, command_id))
            self._command_ids.setdefault((target, command_id), time.time())
        return 200, {}, {"data": {"result": "ok"}}, first_seen

    def _create(self, body: Any) -> tuple[int, dict[str, str], Any, float | None]:
        problem = _check(body, ("call_control_id", "name"), {"beep_enabled": _BEEP})
        if problem is not None:
            return 422, {}, problem, None
        active = any(
            c["name"] == body["name"] and c["status"] != "completed"
            for c in self._conferences.values()
        )
        if active:
            return 422, {}, _error("90033", "Conference name already active", "", "/name"), None
        conference = self._new_conference(body["name"], "in_progress")
        self._participants[conference["id"]] = [
            _participant(conference["id"], body["call_control_id"])
        ]
        return 200, {}, {"data": conference}, None

    def _new_conference(self, name: str, status: str, **fields: Any) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        conference = {
            "id": str(uuid.uuid4()),
            "name": name,
            "record_type": "conference",
            "status": status,
            "created_at": now,
            "updated_at": now,
            "expires_at": now,
            "region": "US",
            **fields,
        }
        self._conferences[conference["id"]] = conference
        return conference


def _participant(conference_id: str, call_control_id: str, **fields: Any) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "id": str(uuid.uuid4()),
        "record_type": "participant",
        "call_control_id": call_control_id,
        "call_leg_id": str(uuid.uuid4()),
        "conference": {"id": conference_id},
        "status": "joined",
        "muted": False,
        "on_hold": False,
        "end_conference_on_exit": False,
        "soft_end_conference_on_exit": False,
        "whisper_call_control_ids": [],
        "created_at": now,
        "updated_at": now,
        **fields,
    }


def _parse_body(raw: bytes) -> tuple[Any, str]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return None, "body is not JSON"
    if not isinstance(body, dict):
        return None, "body must be a JSON object"
    return body, ""


def _check(body: Any, required: tuple[str, ...], enums: dict[str, tuple[str, ...]]) -> Any:
    for name in required:
        if body.get(name) in (None, "", []):
            return _error("10015", "Missing required parameter", f"{name} is required", f"/{name}")
    for name, allowed in enums.items():
        if name in body and body[name] not in allowed:
            return _error(
                "10015", "Invalid parameter", f"{name} must be one of {allowed}", f"/{name}"
            )
    return None


def _matches(row: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for key, values in query.items():
        if key.startswith("filter[") and key.endswith("]"):
            name = key[len("filter[") : -1]
            actual = row.get(name)
            wanted = values[-1]
            if isinstance(actual, bool):
                actual = "true" if actual else "false"
            if actual is not None and str(actual) != wanted:
                return False
    return True


def _page(rows: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    number = max(1, int(query.get("page[number]", ["1"])[-1]))
    size = min(250, max(1, int(query.get("page[size]", ["20"])[-1])))
    total_pages = max(1, -(-len(rows) // size))
    chunk = rows[(number - 1) * size : number * size]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": total_pages,
        "total_results": len(rows),
    }
    return {"data": chunk, "meta": meta}


def _error(code: str, title: str, detail: str = "", pointer: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return {"errors": [error]}


_FAULT_KEYS = {"latency", "hang_seconds", "rates", "fail_next", "rate_limit", "outage"}
_RATE_KEYS = set(FaultRates.__dataclass_fields__)
_NEXT_KEYS = {"count", *Fault.__dataclass_fields__}


def _faults_problem(body: Any) -> str | None:
    """Why a POST to /_sandbox/faults cannot be applied, or None (the README shows each form)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    unknown = set(body) - _FAULT_KEYS
    if unknown:
        known = ", ".join(sorted(_FAULT_KEYS))
        return f"unknown key(s) {', '.join(sorted(unknown))}; known: {known}"
    for key in ("latency", "hang_seconds"):
        if key in body and (not isinstance(body[key], int | float) or body[key] < 0):
            return f"{key} must be a number of seconds, 0 or more"
    limit = body.get("rate_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return "rate_limit must be a whole number of commands a second, or null for none"
    if not isinstance(body.get("outage", False), bool):
        return "outage must be true or false"
    rates = body.get("rates", {})
    if not isinstance(rates, dict) or set(rates) - _RATE_KEYS:
        return f"rates must be an object with keys among {', '.join(sorted(_RATE_KEYS))}"
    for key in ("server_error", "rate_limited", "timeout"):
        if not isinstance(rates.get(key, 0.0), int | float) or not 0 <= rates.get(key, 0.0) <= 1:
            return f"rates.{key} must be a fraction between 0 and 1"
    faults = body.get("fail_next", [])
    if not isinstance(faults, list):
        return "fail_next must be a list of faults"
    for fault in faults:
        if not isinstance(fault, dict) or set(fault) - _NEXT_KEYS:
            known = ", ".join(sorted(_NEXT_KEYS))
            return f"each fail_next entry must be an object with keys among {known}"
        numbers = (fault.get("status", 500), fault.get("count", 1))
        if not all(isinstance(n, int) and n >= 0 for n in numbers):
            return "fail_next: status and count must be whole numbers (status 0: no answer)"
    return None


def _fault_body(fault: Fault) -> Any:
    titles = {429: "Too many requests", 408: "Request timeout", 422: "Unprocessable entity"}
    title = titles.get(fault.status, "Service unavailable" if fault.status >= 500 else "Error")
    return _error(fault.code or str(fault.status), title)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API offers
    # Headers and body go out in separate writes; with Nagle's algorithm on, the client's
    # delayed ACK would hold every answer back by about 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY)) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, answer = self.server.state.handle(method, self.path, headers, raw)
        if status == 0:
            time.sleep(self.server.state.hang_seconds)
            self.close_connection = True
            return
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", str(uuid.uuid4()))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded, not logged


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: FakeTelnyx) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a killed worker, a timed-out request) is part of the tests.
        pass


class FakeTelnyxServer:
    """Runs FakeTelnyx on a loopback port in a background thread.

    with FakeTelnyxServer(api_key="KEY") as api:
        client = TelnyxClient("KEY", base_url=api.base_url)
    """

    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = FakeTelnyx(api_key)
        self._server = _Server((host, port), self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-telnyx", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def start(self) -> FakeTelnyxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelnyxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the server on its own and print each command it receives."""
    import argparse
    import os

    parser = argparse.ArgumentParser(
        prog="python -m sandbox.api_server",
        description="A local Telnyx-compatible API for trying the worker without an account.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", default=os.environ.get("TELNYX_API_KEY", "KEY-local"))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--quiet", action="store_true", help="do not print each request")
    args = parser.parse_args(argv)
    server = FakeTelnyxServer(args.api_key, args.host, args.port)
    server.state.latency = args.latency
    if not args.quiet:
        server.state.on_request = _print_request
    print(f"Telnyx-compatible API on {server.base_url} (API key {args.api_key!r})", flush=True)
    print(
        f"controls: {server.base_url.rsplit('/', 1)[0]}{ADMIN_PREFIX}stats|requests|reset|faults"
        " (README, 'The sandbox API's controls')",
        flush=True,
    )
    # SIGTERM (a container's stop, a `kill`) ends it at once, like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    server.start()
    try:
        server._thread.join()
    except KeyboardInterrupt:
        server.stop()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_request(request: RecordedRequest) -> None:
    body = {k: v for k, v in (request.body or {}).items() if k != "command_id"}
    repeat = " (repeat of a command_id)" if request.duplicate else ""
    print(
        f"{request.status} {request.method} {request.path} {json.dumps(body)}{repeat}", flush=True
    )


if __name__ == "__main__":
    raise SystemExit(main())
