"""Injected failures: an HTTP error, a hang, or a late answer for the next requests, or random
ones at given rates; and the body of POST /_sandbox/faults that asks for them (README, "The
sandbox API's controls"). A 429 carries Telnyx's code 10011 and x-ratelimit-reset header:
https://developers.telnyx.com/development/api-fundamentals/reliability/rate-limiting
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from sandbox.api.errors import error


@dataclass
class Fault:
    """One injected failure: an HTTP error, a hang with no answer (`status=0`), or, with `slow`
    seconds, a request acted on at once and answered that much later (its status ignored)."""

    status: int
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str = ""
    slow: float = 0.0


@dataclass
class FaultRates:
    """Random faults, applied to action requests only (reads stay reliable)."""

    server_error: float = 0.0
    rate_limited: float = 0.0
    timeout: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 8.0
    retry_after: float | None = None
    seed: int | None = None


def draw(rates: FaultRates, roll: float) -> Fault | None:
    """The random fault a roll in [0, 1) falls on, if any."""
    retry = {"retry-after": str(rates.retry_after)} if rates.retry_after is not None else {}
    if roll < rates.server_error:
        return Fault(503)
    if roll < rates.server_error + rates.rate_limited:
        return Fault(429, "10011", headers={"x-ratelimit-reset": "1", **retry})
    if roll < rates.server_error + rates.rate_limited + rates.timeout:
        return Fault(0)
    if roll < rates.server_error + rates.rate_limited + rates.timeout + rates.slow:
        return Fault(200, slow=rates.slow_seconds)
    return None


def fault_body(fault: Fault) -> dict[str, Any]:
    """The error body a fault answers with."""
    titles = {429: "Too many requests", 408: "Request timeout", 422: "Unprocessable entity"}
    title = titles.get(fault.status, "Service unavailable" if fault.status >= 500 else "Error")
    return error(fault.code or str(fault.status), title)


# --- what POST /_sandbox/faults accepts --------------------------------------------------------
Seconds = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Whole = Annotated[int, Field(ge=0)]


class _Body(BaseModel):
    # Strict: "0.5" is not a number of seconds, nor 1 a boolean; an unknown key is a typo.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RatesBody(_Body):
    """`rates`: replaces the random rates in force (FaultRates)."""

    server_error: Fraction = 0.0
    rate_limited: Fraction = 0.0
    timeout: Fraction = 0.0
    slow: Fraction = 0.0
    slow_seconds: Seconds = 8.0
    retry_after: float | None = None
    seed: int | None = None


class FailNextBody(_Body):
    """One entry of `fail_next`: `count` faults queued after those already waiting."""

    count: Whole = 1
    status: Whole = 500  # 0: no answer at all
    code: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    path_contains: str = ""
    slow: Seconds = 0.0  # more than 0: acted on at once, answered this many seconds late


class FaultsBody(_Body):
    """The whole body. Only the keys it gives change anything."""

    latency: Seconds = 0.0
    hang_seconds: Seconds = 0.0
    rate_limit: Annotated[int, Field(ge=1)] | None = None
    # How the limit is counted and told (sandbox/api/ratelimit.py).
    rate_window: Literal["fixed", "sliding"] = "fixed"
    reset_rounding: Literal["up", "down"] = "up"
    retry_after_on_429: bool = True
    outage: bool = False
    rates: RatesBody = Field(default_factory=RatesBody)
    fail_next: list[FailNextBody] = Field(default_factory=list)


def read_faults(body: dict[str, Any]) -> FaultsBody | str:
    """The body as a FaultsBody, or why it cannot be applied (every problem, in one line)."""
    try:
        return FaultsBody.model_validate(body)
    except ValidationError as exc:
        reasons: list[str] = []
        unknown = [e for e in exc.errors() if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
        if unknown:
            names = ", ".join(sorted(str(e["loc"][0]) for e in unknown))
            reasons.append(f"unknown key(s) {names}; known: {_keys(FaultsBody)}")
        for problem in exc.errors():
            reason = _reason(problem)
            if problem not in unknown and reason not in reasons:
                reasons.append(reason)
        return "; ".join(reasons)


def _reason(problem: ErrorDetails) -> str:
    """What is wrong at one place in the body, in the words the README uses."""
    loc = problem["loc"]
    unknown = problem["type"] == "extra_forbidden"
    where = ".".join(str(part) for part in loc)
    match loc:
        case ("latency" | "hang_seconds" as key,):
            return f"{key} must be a number of seconds, 0 or more"
        case ("rate_limit",):
            return "rate_limit must be a whole number of commands a second, or null for none"
        case ("outage",):
            return "outage must be true or false"
        case ("rate_window",):
            return 'rate_window must be "fixed" or "sliding"'
        case ("reset_rounding",):
            return 'reset_rounding must be "up" or "down"'
        case ("retry_after_on_429",):
            return "retry_after_on_429 must be true or false"
        case ("rates", "slow_seconds"):
            return "rates.slow_seconds must be a number of seconds, 0 or more"
        case ("rates", "server_error" | "rate_limited" | "timeout" | "slow" as key):
            return f"rates.{key} must be a fraction between 0 and 1"
        case ("rates", "retry_after"):
            return "rates.retry_after must be a number of seconds, or null"
        case ("rates", "seed"):
            return "rates.seed must be a whole number, or null"
        case ("rates", *_):
            named = f"unknown key {where}; " if unknown else ""
            return f"{named}rates must be an object with keys among {_keys(RatesBody)}"
        case ("fail_next",):
            return "fail_next must be a list of faults"
        case ("fail_next", int(), "status" | "count"):
            return "fail_next: status and count must be whole numbers (status 0: no answer)"
        case ("fail_next", int(), "slow"):
            return f"{where} must be a number of seconds, 0 or more"
        case ("fail_next", int(), "code" | "path_contains"):
            return f"{where} must be a string"
        case ("fail_next", int() as index, "headers", *_):
            return f"fail_next.{index}.headers must be an object of strings"
        case ("fail_next", *_):
            named = f"unknown key {where}; " if unknown else ""
            keys = _keys(FailNextBody)
            return f"{named}each fail_next entry must be an object with keys among {keys}"
    return f"{where}: {problem['msg']}"


def _keys(model: type[BaseModel]) -> str:
    return ", ".join(sorted(model.model_fields))
