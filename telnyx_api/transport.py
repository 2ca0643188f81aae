"""The HTTP boundary: one httpx.Client, path encoding, query encoding and error mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from telnyx_api.errors import (
    InvalidRequestError,
    ServerError,
    error_for_response,
    map_transport_error,
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


class Transport:
    """Sends requests and returns the decoded JSON body, or raises from `telnyx_api.errors`."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 100,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self._on_response = on_response
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
            # One pool shared by every worker thread: keep-alive to the API saves a TLS
            # handshake per command.
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        query = bracket_query(params) if params else None
        try:
            response = self._http.request(method, path, json=json, params=query)
        except httpx.TransportError as exc:
            raise map_transport_error(exc) from exc
        if self._on_response is not None:
            self._on_response(response)
        if response.is_success:
            return _decode(response)
        raise error_for_response(response)

    def close(self) -> None:
        self._http.close()


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
