"""The HTTP boundary: one httpx.Client, path encoding, query encoding and error mapping."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from telnyx_api.deadlines import timeouts
from telnyx_api.errors import (
    InvalidRequestError,
    ServerError,
    error_for_response,
    map_transport_error,
)
from telnyx_api.hedging import (
    HedgeThreads,
    HedgeWon,
    Race,
    WatchedBackend,
    hedging_now,
    racing,
)

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
# Telnyx commands answer in well under a second; a slow read is better retried than waited on.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "telnyx-conference-worker/0.1"
# Hard cap on a response body we will parse: a list page of 250 conferences is ~150 KiB.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

QueryPairs = list[tuple[str, str | int | float | bool | None]]


def path_segment(value: str) -> str:
    """Percent-encode one path parameter so it stays one segment (`v3:` ids keep their `:`)."""
    if not value:
        # An empty id would silently address another endpoint (`/conferences//actions/...`).
        raise InvalidRequestError("a path id must not be empty")
    return quote(value, safe=":+=")


def bracket_query(params: Mapping[str, Any], prefix: str = "") -> QueryPairs:
    """Flatten nested params into Telnyx's bracket style: filter[status]=..., page[number]=2."""
    pairs: QueryPairs = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs += bracket_query(value, name)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


class ThreadPools(httpx.BaseTransport):
    """A connection pool per thread, sharing one TLS context.

    httpcore's pool, shared by a worker's 32 threads, checks every connection it holds under
    one lock each time a request starts or ends (a poll() per idle connection, and a count of
    the idle ones for each): measured at a third of the client's CPU per command. A thread
    sends one command at a time, so a pool of its own holds one connection, kept alive, and
    that work is constant."""

    def __init__(self, per_thread: int = 2, tls: ssl.SSLContext | None = None) -> None:
        self._limits = httpx.Limits(
            max_connections=per_thread, max_keepalive_connections=per_thread
        )
        self._tls = tls if tls is not None else httpx.create_ssl_context()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pools: list[httpx.HTTPTransport] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool: httpx.HTTPTransport | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = httpx.HTTPTransport(verify=self._tls, limits=self._limits)
            # (Its connections' first read of an answer watched, for hedging: telnyx_api/
            # hedging.py; httpx does not take a network backend of its own.)
            pool._pool._network_backend = WatchedBackend()
            self._local.pool = pool
            with self._lock:
                self._pools.append(pool)
        return pool.handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            pool.close()


class Transport:
    """Sends requests and returns the decoded JSON body, or raises from `telnyx_api.errors`.

    Requests go to the httpx transport (a pool per thread) without an httpx.Client: the client's
    layers (merging the URL with its base, cookies, the auth and redirect flows, its default
    headers) were a third of a command's HTTP CPU, measured in process (0.19 of 0.55 ms), and
    none of them apply here: the key is a fixed header, redirects are not followed (a 3xx is
    an error to report, not to chase with the key), no cookies are kept, and the bodies are
    small JSON, read whole (docs/benchmarks.md)."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self._on_response = on_response
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._base = base_url.rstrip("/")
        httpx.URL(self._base)  # a malformed base URL fails here, at start-up
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._timeout = {"timeout": httpx.Timeout(timeout).as_dict()}
        # Kept-alive connections save a TLS handshake per command.
        self._transport = transport if transport is not None else ThreadPools()
        self._hedges = HedgeThreads()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            request = httpx.Request(
                method,
                f"{self._base}/{path.lstrip('/')}",
                params=bracket_query(params) if params else None,
                headers=self._headers,
                json=json,
                extensions={"timeout": timeouts(self._timeout["timeout"])},
            )
            race = self._race(request, json)
            response = self._send(request, race)
        except httpx.TransportError as exc:
            failed = map_transport_error(exc)
            failed.may_have_acted |= _hedged(race)
            raise failed from exc
        if self._on_response is not None:
            self._on_response(response)
        if response.is_success:
            return _decode(response)
        error = error_for_response(response)
        # (With a hedge sent, one answer says nothing of the other request: Telnyx may have
        # acted on it, whichever answered.)
        error.may_have_acted |= _hedged(race)
        raise error

    def _race(self, request: httpx.Request, json: Mapping[str, Any] | None) -> Race | None:
        """The race of a request that may be hedged (hedging_as): only a command with a
        command_id, which Telnyx ignores a repeat of."""
        hedging = hedging_now()
        if hedging is None or not json or not json.get("command_id"):
            return None
        return Race(hedging, partial(self._hedge, request), self._hedges)

    def _hedge(self, request: httpx.Request) -> httpx.Response:
        """The identical request, sent afresh (on a hedge thread)."""
        copy = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content,
            extensions={"timeout": timeouts(self._timeout["timeout"])},
        )  # fmt: skip
        return self._read(copy)

    def _send(self, request: httpx.Request, race: Race | None) -> httpx.Response:
        """The first answer of the request and its hedge, if any."""
        if race is None:
            return self._read(request)
        try:
            with racing(race):
                response = self._read(request)
        except HedgeWon as won:
            race.hedging.on_end(race.report(None, "hedge"))
            return won.response
        except httpx.TransportError:
            # (The first request timed out or failed: the hedge may still answer.)
            late = race.answer(wait=self._timeout["timeout"]["read"] or 0.0)
            if race.silent:
                race.hedging.on_end(race.report(None, "hedge" if late else "none"))
            if late is None:
                raise
            return late
        if race.silent:
            race.hedging.on_end(race.report(response, "first"))
        return response

    def _read(self, request: httpx.Request) -> httpx.Response:
        response = self._transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        return response

    def close(self) -> None:
        self._transport.close()
        self._hedges.close()


def _hedged(race: Race | None) -> bool:
    """Whether the request's identical copy went out too."""
    return race is not None and race.hedge is not None


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise _bad_success(response, "response body too large")
    try:
        return response.json()
    except ValueError:
        raise _bad_success(response, "response body is not JSON") from None


def _bad_success(response: httpx.Response, why: str) -> ServerError:
    """A 2xx we cannot read is an upstream fault; retrying it is reasonable."""
    request = response.request
    error = ServerError(response.status_code, method=request.method, path=request.url.path)
    error.args = (f"{error.args[0]}: {why}",)
    return error
