"""Hedged requests, as Telnyx's "Command Retries" page for Programmable Voice advises: "if your
application fails to receive a HTTP response from Telnyx within 500ms, send an identical
command", which the command's `command_id` makes safe (Telnyx ignores a repeat of it for 60 s).

A request that may be hedged goes out as any other, on the calling thread. Its first read of
the answer first waits on the socket for at most `after` seconds: one poll(), and nothing
more when Telnyx answers in time (no thread, no timer). Past that, the identical request goes
out from a hedge thread, on a connection of that thread's own, once the caller's clearance
allows (the fleet's pace), and the wait goes on for both:
- the first request's answer first: it is read as usual; the hedge's answer, whenever it
  comes, is dropped (its thread ends with it, within the request timeout);
- the hedge's answer first: the first request's read ends with `HedgeWon`, which closes its
  connection (httpcore closes a connection whose answer was not read), and the hedge's answer
  is the request's;
- the first request timing out: the hedge's answer is still waited for, to its own timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpcore
import httpx

from telnyx_api.deadlines import cap

# Hedges in flight at once, per client: a hedge thread is busy only while Telnyx is slow.
MAX_HEDGES = 8
# The longest a hedge's future can take to settle once its thread has said it ended.
_SETTLING = 1.0
# The most bytes read ahead while telling an answer from a TLS session ticket.
MAX_EARLY = 65536


@dataclass(frozen=True)
class Hedging:
    """How requests made now may be hedged (`hedging_as`): after `after` seconds without an
    answer; `clearance()` says whether the hedge may go now (0), in how long to ask again
    (seconds), or never (None: past the time it may go in); `on_end` hears how it ended."""

    after: float
    clearance: Callable[[], float | None]
    on_end: Callable[[HedgeReport], None]


@dataclass(frozen=True)
class HedgeReport:
    """How one hedged request ended: `hedge_won`, `first_won`, `both_failed`, or `not_sent`
    (silent past `after`, but the hedge was never cleared to go before the first answered);
    the request ids of the answers that came (None for none)."""

    outcome: str
    first_request_id: str | None
    hedge_request_id: str | None
    waited: float


class HedgeWon(Exception):
    """The hedge answered first: the first request is abandoned."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__("the hedge answered first")
        self.response = response


# The race of the request being made on this thread, if it may be hedged.
_RACE: contextvars.ContextVar[Race | None] = contextvars.ContextVar("telnyx_race", default=None)
# How the requests made now may be hedged, if they may (hedging_as).
_HEDGING: contextvars.ContextVar[Hedging | None] = contextvars.ContextVar(
    "telnyx_hedging", default=None
)


@contextmanager
def hedging_as(hedging: Hedging | None) -> Iterator[None]:
    """Requests made inside, those that carry a `command_id`, are hedged as `hedging` says."""
    token = _HEDGING.set(hedging)
    try:
        yield
    finally:
        _HEDGING.reset(token)


def hedging_now() -> Hedging | None:
    return _HEDGING.get()


def _unraced(send: Callable[[], httpx.Response]) -> httpx.Response:
    """Run a hedge's request (in a copy of the caller's context, whose leaving deadline holds
    for it too): itself never hedged."""
    _RACE.set(None)
    _HEDGING.set(None)
    return send()


class Race:
    """One hedgeable request: its first read waits for the first answer of the two."""

    def __init__(
        self,
        hedging: Hedging,
        send_hedge: Callable[[], httpx.Response],
        executor: HedgeThreads,
    ) -> None:
        self.hedging = hedging
        self._send_hedge = send_hedge
        self._executor = executor
        self._watched = False
        self._started = time.monotonic()
        self.silent = False  # no answer came within `after`
        self.hedge: Future[httpx.Response] | None = None
        self._done: socket.socket | None = None  # readable once the hedge has ended

    def wait(self, stream: WatchedStream, timeout: float | None) -> float | None:
        """Before the first read of the answer: wait for it, hedging once it is late; return
        the read timeout left. Raises HedgeWon when the hedge answers first."""
        if self._watched:
            return timeout
        self._watched = True  # (only the first read of the answer: never a body's read)
        sock = stream.socket()
        if sock is None:
            return timeout
        end = time.monotonic() + (timeout if timeout is not None else float("inf"))
        ask_at: float | None = time.monotonic() + self.hedging.after
        try:
            while (now := time.monotonic()) < end:
                if self.hedge is None and ask_at is not None and now >= ask_at:
                    self.silent = True
                    ask_at = self._ask(now)
                watch = [sock] if self._done is None else [sock, self._done]
                until = ask_at if self.hedge is None and ask_at is not None else end
                ready = _ready(watch, min(until, end) - now)
                # (Readable, but on TLS maybe only with a session ticket: no answer yet.)
                if sock.fileno() in ready and stream.answered():
                    return _left(end)
                if self._done is not None and self._done.fileno() in ready:
                    self._close_done()
                    # (Its thread says so just before its future is settled: wait for that.)
                    if (won := self.answer(wait=_SETTLING)) is not None:
                        raise HedgeWon(won)
        finally:
            self._close_done()
        return 0.001  # (the read times out as it would have)

    def answer(self, wait: float = 0.0) -> httpx.Response | None:
        """The hedge's answer, if it has one (waiting up to `wait` seconds for it)."""
        if self.hedge is None:
            return None
        try:
            return self.hedge.result(timeout=wait)
        except Exception:  # noqa: BLE001 (its failure is the first request's to report)
            return None

    def report(self, first: httpx.Response | None, winner: str) -> HedgeReport:
        """How it ended (`winner`: first, hedge or none), for Hedging.on_end."""
        hedge = self.answer()
        outcome = (
            "not_sent" if self.hedge is None
            else {"first": "first_won", "hedge": "hedge_won"}.get(winner, "both_failed")
        )  # fmt: skip
        return HedgeReport(
            outcome, _request_id(first), _request_id(hedge), time.monotonic() - self._started
        )

    def _ask(self, now: float) -> float | None:
        """Ask whether the hedge may go; send it if so. When to ask again (None: never)."""
        wait = self.hedging.clearance()
        if wait is None:
            return None
        if wait > 0:
            return now + wait
        threads = self._executor
        if not threads.take():
            return None  # (every hedge thread busy: Telnyx is slow for many; no queue of hedges)
        self._done, done = socket.socketpair()
        context = contextvars.copy_context()  # (taken here, on the caller's thread)
        try:
            self.hedge = threads().submit(context.run, _unraced, partial(self._run_hedge, done))
        except RuntimeError:  # (the process is shutting down)
            threads.give_back()
            done.close()
            self._close_done()
        return None

    def _run_hedge(self, done: socket.socket) -> httpx.Response:
        """The hedge's request, on a hedge thread; says when it has ended (`done`)."""
        try:
            return self._send_hedge()
        finally:
            self._executor.give_back()
            # (OSError: the race is over, and nobody waits for this one.)
            with done, contextlib.suppress(OSError):
                done.send(b"x")

    def _close_done(self) -> None:
        if self._done is not None:
            self._done.close()
            self._done = None


@contextmanager
def racing(race: Race) -> Iterator[None]:
    """The request made inside is `race`'s first: its first read of an answer waits in it."""
    token = _RACE.set(race)
    try:
        yield
    finally:
        _RACE.reset(token)


class WatchedBackend(httpcore.NetworkBackend):
    """httpcore's own network backend, its streams' first read of an answer watched by the
    race of the request being made on this thread, if any."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None,
                    ) -> httpcore.NetworkStream:  # fmt: skip
        # (Each step before the request has left is cut to its leaving deadline, if any.)
        return WatchedStream(
            self._inner.connect_tcp(host, port, cap(timeout), local_address, socket_options)
        )

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # fmt: skip
        return WatchedStream(self._inner.connect_unix_socket(path, cap(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class WatchedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._early = b""  # bytes of the answer read while telling a TLS ticket from them

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        race = _RACE.get()
        if race is not None and not self._early:
            timeout = race.wait(self, timeout)
        if self._early:
            data, self._early = self._early[:max_bytes], self._early[max_bytes:]
            return data
        return self._inner.read(max_bytes, timeout)

    def socket(self) -> socket.socket | None:
        """The socket to wait on; None when bytes of the answer are here already."""
        sock = self._inner.get_extra_info("socket")
        if self._early or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            return None
        return sock if isinstance(sock, socket.socket) else None

    def answered(self) -> bool:
        """On a socket found readable: whether bytes of the answer came. A TLS 1.3 server's
        session ticket, which follows the handshake, makes it readable with none: the
        decrypted bytes, if any, are kept for the read."""
        sock = self._inner.get_extra_info("socket")
        if not isinstance(sock, ssl.SSLSocket):
            return True
        try:
            sock.setblocking(False)
            self._early = sock.recv(MAX_EARLY)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True  # (the read reports it)
        finally:
            sock.setblocking(True)
        return True

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:  # fmt: skip
        return WatchedStream(self._inner.start_tls(ssl_context, server_hostname, cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class HedgeThreads:
    """The hedge threads of one client, started only when a first hedge goes out; at most
    MAX_HEDGES hedges at once, each on a thread of its own (a hedge never waits in a queue:
    one that would is not sent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._free = threading.BoundedSemaphore(MAX_HEDGES)

    def take(self) -> bool:
        """A hedge thread for a new hedge, if one is free (give it back when it ends)."""
        return self._free.acquire(blocking=False)

    def give_back(self) -> None:
        self._free.release()

    def __call__(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_HEDGES, thread_name_prefix="telnyx-hedge")
            return self._pool

    def close(self) -> None:
        """Let the threads end (a hedge still waiting on Telnyx ends with its timeout)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _ready(socks: list[socket.socket], wait: float) -> set[int]:
    """The descriptors among `socks` readable within `wait` seconds (poll: any descriptor
    number, where select() takes none past 1023)."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN | select.POLLPRI)
    timeout_ms = max(int(wait * 1000) + (1 if wait > 0 else 0), 0)
    return {fd for fd, _ in poller.poll(timeout_ms)}


def _left(end: float) -> float | None:
    # (At least a millisecond: a zero timeout would make the read non-blocking, a ReadError.)
    return None if end == float("inf") else max(end - time.monotonic(), 0.001)


def _request_id(response: httpx.Response | None) -> str | None:
    if response is None:
        return None
    headers = response.headers
    found: str | None = headers.get("x-request-id") or headers.get("x-telnyx-request-id")
    return found
