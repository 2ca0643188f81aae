"""Every error the Telnyx client raises, in one tree.

    TelnyxError
    ├── InvalidRequestError      the request failed our own checks; nothing was sent
    ├── TransportError           no HTTP response: connect, read or write failure   (retryable)
    │   └── TimeoutError         a connect, read, write or pool timeout              (retryable)
    └── APIError                 Telnyx answered with a non-2xx status
        ├── BadRequestError          400
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403
        ├── NotFoundError            404
        ├── RequestTimeoutError      408                                            (retryable)
        ├── ConflictError            409                                            (retryable)
        ├── UnprocessableEntityError 422  e.g. 90018 call ended, 90019 conference ended
        ├── RateLimitError           429                                            (retryable)
        └── ServerError              5xx                                            (retryable)

Every error has `retryable`: whether sending the same request again can succeed, and
`may_have_acted`: whether Telnyx may have carried the request out all the same (no answer came
after it was sent, or a 5xx other than 503), so that sending it again is safe only inside
`command_id`'s window. `APIError`
carries the HTTP status, the parsed Telnyx error objects, the request id and the rate-limit hints,
so callers never parse a response themselves. Foreign exceptions (httpx's) are mapped to this
tree in one place, `map_transport_error`, and always raised `from` the original.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ErrorDetail",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TelnyxError",
    "TimeoutError",
    "TransportError",
    "UnprocessableEntityError",
    "error_for_response",
    "map_transport_error",
]

# Bounds on what we keep from an error body: a hostile or broken upstream must not make us
# hold or log megabytes.
_MAX_ERRORS = 20
_MAX_TEXT = 500


class TelnyxError(Exception):
    """Base class of everything this client raises."""

    retryable: bool = False
    may_have_acted: bool = False


class InvalidRequestError(TelnyxError, ValueError):
    """The arguments failed validation before anything was sent."""


class TransportError(TelnyxError):
    """The request got no HTTP response. `may_have_acted` is False only where it never left
    (no connection was made)."""

    retryable = True

    def __init__(self, message: str, *, may_have_acted: bool = True) -> None:
        super().__init__(message)
        self.may_have_acted = may_have_acted


class TimeoutError(TransportError):
    """A connect, read, write or pool timeout."""


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of Telnyx's `errors` array."""

    code: str
    title: str
    detail: str = ""
    pointer: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> ErrorDetail | None:
        if not isinstance(raw, dict):
            return None
        source = raw.get("source")
        source = source if isinstance(source, dict) else {}
        meta = raw.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        return cls(
            code=_bounded(raw.get("code")),
            title=_bounded(raw.get("title")),
            detail=_bounded(raw.get("detail")),
            pointer=_bounded(source.get("pointer")),
            meta=meta,
        )


class APIError(TelnyxError):
    """Telnyx answered with a non-2xx status."""

    def __init__(
        self,
        status_code: int,
        errors: tuple[ErrorDetail, ...] = (),
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        ratelimit_reset: float | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status_code = status_code
        self.errors = errors
        self.request_id = request_id
        self.retry_after = retry_after
        self.ratelimit_reset = ratelimit_reset
        self.method = method
        self.path = path
        # A 4xx refuses the request, and a 503 says the server could not take it on (RFC 9110,
        # 15.6.4); any other 5xx can come after the work was done (a gateway's 502 or 504, a
        # 500 part-way through), as can a 2xx whose body we cannot read.
        self.may_have_acted = not (400 <= status_code < 500 or status_code == 503)
        super().__init__(self._message())

    @property
    def codes(self) -> tuple[str, ...]:
        """The Telnyx error codes, e.g. ("90019",)."""
        return tuple(e.code for e in self.errors if e.code)

    @property
    def retry_delay(self) -> float | None:
        """How long Telnyx asked us to wait, from Retry-After or x-ratelimit-reset."""
        return self.retry_after if self.retry_after is not None else self.ratelimit_reset

    def _message(self) -> str:
        where = f"{self.method} {self.path} " if self.method else ""
        parts = [f"{where}-> HTTP {self.status_code}"]
        parts += [
            f"[{e.code}] {e.title}" + (f": {e.detail}" if e.detail else "") for e in self.errors
        ]
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


class BadRequestError(APIError):
    """400."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403."""


class NotFoundError(APIError):
    """404: no such call, conference or queue."""


class RequestTimeoutError(APIError):
    """408."""

    retryable = True


class ConflictError(APIError):
    """409."""

    retryable = True


class UnprocessableEntityError(APIError):
    """422: Telnyx refused the command, e.g. 90018 call ended or 90019 conference ended."""


class RateLimitError(APIError):
    """429."""

    retryable = True


class ServerError(APIError):
    """5xx."""

    retryable = True


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_response(response: httpx.Response) -> APIError:
    """Build the error for a non-2xx response (status first, then the body's codes)."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    headers = response.headers
    return cls(
        status,
        _parse_errors(response),
        request_id=headers.get("x-request-id") or headers.get("x-telnyx-request-id"),
        retry_after=_seconds(headers.get("retry-after")),
        ratelimit_reset=_seconds(headers.get("x-ratelimit-reset")),
        method=response.request.method,
        path=response.request.url.path,
    )


def map_transport_error(exc: httpx.TransportError) -> TransportError:
    """Map an httpx transport failure onto our tree; the caller raises it `from exc`."""
    cls = TimeoutError if isinstance(exc, httpx.TimeoutException) else TransportError
    # (No connection, or none from the pool: the request never left.)
    unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return cls(f"{type(exc).__name__}: {exc}"[:_MAX_TEXT], may_have_acted=not unsent)


def _parse_errors(response: httpx.Response) -> tuple[ErrorDetail, ...]:
    try:
        body = response.json()
    except ValueError:
        return ()
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return ()
    parsed = (ErrorDetail.from_json(item) for item in raw[:_MAX_ERRORS])
    return tuple(e for e in parsed if e is not None)


def _seconds(value: str | None) -> float | None:
    """A non-negative number of seconds from a header, or None (HTTP dates are not used here)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86_400 else None


def _bounded(value: Any) -> str:
    return "" if value is None else str(value)[:_MAX_TEXT]
