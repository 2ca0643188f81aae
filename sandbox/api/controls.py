"""The loopback-only controls under /_sandbox/, for tools that run the server in another
process (README, "The sandbox API's controls"): stats, the recorded requests, the faults in
force, and a reset."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sandbox.api.checks import parse_body
from sandbox.api.errors import error
from sandbox.api.faults import FaultRates, FaultsBody, read_faults
from sandbox.api.ratelimit import Rounding, Window

if TYPE_CHECKING:
    from sandbox.api.state import FakeTelnyx

ADMIN_PREFIX = "/_sandbox/"


def answer(
    state: FakeTelnyx, method: str, path: str, query: dict[str, list[str]], raw_body: bytes
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) for a control; `path` is what follows ADMIN_PREFIX."""
    match method, path:
        case "GET", "stats":
            return 200, {}, state.stats()
        case "GET", "requests":
            since = int(query.get("since", ["0"])[-1])
            return 200, {}, {"data": [asdict(r) for r in state.requests()[since:]]}
        case "POST", "reset":
            state.clear()
            return 200, {}, {"result": "ok"}
        case "GET", "reset":
            return 405, {"allow": "POST"}, error("10015", "Bad Request", "POST to reset")
        case "GET", "faults":
            return 200, {}, state.faults_in_force()
        case "POST", "faults":
            body, problem = parse_body(raw_body)
            faults = problem or read_faults(body)
            if isinstance(faults, str):
                return 400, {}, error("10015", "Bad Request", faults)
            apply(state, faults)
            return 200, {}, state.faults_in_force()
    return 404, {}, error("10005", "Resource not found")


def apply(state: FakeTelnyx, faults: FaultsBody) -> None:
    """Change what the body names: settings replaced, `fail_next` added to the queue."""
    given = faults.model_fields_set
    if "latency" in given:
        state.latency = faults.latency
    if "hang_seconds" in given:
        state.hang_seconds = faults.hang_seconds
    if "rate_limit" in given:
        state.rate_limit = faults.rate_limit
    if "rate_window" in given:
        state.rate_window = Window(faults.rate_window)
    if "reset_rounding" in given:
        state.reset_rounding = Rounding(faults.reset_rounding)
    if "retry_after_on_429" in given:
        state.retry_after_on_429 = faults.retry_after_on_429
    if "outage" in given:
        state.outage = faults.outage
    if "rates" in given:
        state.set_rates(FaultRates(**faults.rates.model_dump()))
    for fault in faults.fail_next:
        state.fail_next(
            fault.count,
            fault.status,
            code=fault.code,
            headers=dict(fault.headers),
            path_contains=fault.path_contains,
            slow=fault.slow,
        )
