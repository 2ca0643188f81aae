"""The HTTP server around FakeTelnyx: a threading server on loopback with keep-alive, as the
real API offers, FakeTelnyxServer to run it in a background thread, and `main` for
`telnyx-sandbox api` and `python -m sandbox.api`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.api.controls import ADMIN_PREFIX
from sandbox.api.recorded import RecordedRequest
from sandbox.api.state import API_PREFIX, FakeTelnyx

MAX_BODY = 1024 * 1024


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
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.api",
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
