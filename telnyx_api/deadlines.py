"""A request's leaving deadline: when the requests made now must be on their way, if they must.

A command Telnyx may already have acted on can only be sent again inside its `command_id`
window (Telnyx ignores a repeat for 60 s): every request of such a send (the command, its
hedge, its copy sent at once after a 5xx) must reach Telnyx before it closes. Each step that
can hold a request back before it has left (the wait for a pooled connection, the connect, the
TLS handshake, the write) is cut to the time left, so that their sum, not each, stays inside
it; past it, a request is not sent at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from telnyx_api.errors import TransportError

# When the requests made now must have left (time.monotonic()), if they must.
_LEAVE_BY: ContextVar[float | None] = ContextVar("telnyx_leave_by", default=None)


@contextmanager
def leaving_by(deadline: float) -> Iterator[None]:
    """Requests made inside must be on their way by `deadline` (time.monotonic()); past it
    they are not sent (a TransportError that says Telnyx never had it)."""
    token = _LEAVE_BY.set(deadline)
    try:
        yield
    finally:
        _LEAVE_BY.reset(token)


def cap(timeout: float | None) -> float | None:
    """One step's timeout before the request has left, cut to the time left; raises when
    none is left."""
    deadline = _LEAVE_BY.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise TransportError(
            "not sent: the time it had to leave in had passed", may_have_acted=False
        )
    return left if timeout is None else min(timeout, left)


def timeouts(configured: dict[str, float | None]) -> dict[str, float | None]:
    """The timeouts of a request made now: as configured, those before it has left cut to
    the time left (each step is cut again as it starts: `cap`)."""
    if _LEAVE_BY.get() is None:
        return configured
    return {k: v if k == "read" else cap(v) for k, v in configured.items()}
