"""Stalled clients cannot starve the web process (slowloris), with no buffering proxy in front.

Hundreds of connections trickle their headers or their body a byte at a time, for as long as
the test runs, into the Procfile's web process on its default settings. Telnyx allows a
delivery 2 s; every genuine webhook sent meanwhile must be acknowledged inside that.
A server that gives each connection a process or a thread (gunicorn's sync worker, or too
few threads) misses it by the request timeout, tens of seconds.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.events import encode, make_event
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner
from testkit.processes import start_web
from tests.conftest import service_env

STALLED_HEADERS = 200
STALLED_BODIES = 200
TELNYX_DEADLINE_SECONDS = 2.0


class Trickler:
    """Keeps many connections open, each sending one more byte every `interval` seconds."""

    def __init__(self, port: int, interval: float = 0.5) -> None:
        self.interval = interval
        self.sockets: list[socket.socket] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        for i in range(STALLED_HEADERS):
            self._open(port, b"POST /webhooks/telnyx HTTP/1.1\r\nHost: web\r\nX-Slow-%d: " % i)
        for _ in range(STALLED_BODIES):
            self._open(
                port,
                b"POST /webhooks/telnyx HTTP/1.1\r\nHost: web\r\nContent-Type: application/json"
                b"\r\nContent-Length: 100000\r\n\r\n{",
            )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _open(self, port: int, opening: bytes) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(opening)
        self.sockets.append(sock)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for sock in self.sockets:
                try:
                    sock.send(b"a")
                except OSError as exc:
                    self.errors.append(repr(exc))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def web_port(redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner) -> Iterator[int]:
    env = service_env(redis_url, api, signer)
    env.pop("WEB_CONCURRENCY")  # the production default
    port = free_port()
    process = start_web(env, port)
    yield port
    process.stop()


@pytest.mark.usefixtures("redis_client")
def test_webhooks_are_acknowledged_within_telnyx_deadline_despite_stalled_clients(
    web_port: int, signer: WebhookSigner
) -> None:
    # Given hundreds of connections trickling their headers or bodies
    trickler = Trickler(web_port)
    try:
        # When genuine webhooks arrive, each on a connection of its own as Telnyx sends them
        took: list[float] = []
        for _ in range(20):
            body = encode(make_event("conference.created", conference_id=str(uuid.uuid4())))
            started = time.monotonic()
            response = httpx.post(
                f"http://127.0.0.1:{web_port}/webhooks/telnyx",
                content=body,
                headers=signer.headers(body),
                timeout=30,
            )
            took.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
        # Then every one was acknowledged within Telnyx's deadline
        assert max(took) < TELNYX_DEADLINE_SECONDS, took
        # while the stalled connections were still being held open, not dropped
        assert trickler.errors == []
    finally:
        trickler.close()


def test_a_body_that_never_finishes_is_cut_off_with_408(
    redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given a web process whose requests must arrive within 2 s
    env = {**service_env(redis_url, api, signer), "WEB_REQUEST_DEADLINE_SECONDS": "2"}
    port = free_port()
    process = start_web(env, port)
    try:
        # When a client sends signed-looking headers and then trickles its body
        body = encode(make_event("conference.created"))
        headers = "".join(f"{k}: {v}\r\n" for k, v in signer.headers(body).items())
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        sock.sendall(
            f"POST /webhooks/telnyx HTTP/1.1\r\nHost: web\r\nContent-Length: {len(body)}\r\n"
            f"{headers}\r\n".encode()
            + body[:10]
        )
        started = time.monotonic()
        answer = b""
        for byte in body[10:]:
            try:
                sock.send(bytes([byte]))
                ready = sock.recv(4096) if _readable(sock, 0.2) else b""
            except OSError:
                break
            answer += ready
            if b"\r\n\r\n" in answer or time.monotonic() - started > 15:
                break
        # (the body may follow the headers in a packet of its own)
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        while length and len(rest) < int(length[1]) and _readable(sock, 2):
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        answer = head + b"\r\n\r\n" + rest
        # Then it is answered 408 at the deadline, not held for as long as it keeps sending
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"error":"request_timeout"' in answer
        assert time.monotonic() - started < 10
        sock.close()
        # And the process goes on answering webhooks
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/telnyx", content=body, headers=signer.headers(body)
        )
        assert response.status_code == 200
    finally:
        process.stop()


def _readable(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])
