"""The sandbox's rate limit, told as Telnyx's rate limiting page describes it: whole seconds in
x-ratelimit-reset, fixed one-second windows by default or sliding ones, the reset rounded up by
default or down, and Retry-After on a 429 unless it is switched off (sandbox/api/ratelimit.py)."""

from __future__ import annotations

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.api.ratelimit import Counter, Rounding, Verdict, Window, headers, whole_seconds
from tests.conftest import API_KEY

T = 1_800_000_000.0  # a whole second of the clock


def _counts(counter: Counter, at: list[float], limit: int, window: Window) -> list[Verdict]:
    return [counter.count(T + offset, limit, window) for offset in at]


def test_a_fixed_window_is_the_clocks_second() -> None:
    verdicts = _counts(Counter(), [0.2, 0.5, 0.9, 0.95, 1.0], limit=3, window=Window.FIXED)
    assert [v.over for v in verdicts] == [False, False, False, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 2]
    # Until the second's end, whatever was counted when
    assert [round(v.reset, 3) for v in verdicts] == [0.8, 0.5, 0.1, 0.05, 1.0]


def test_a_sliding_window_holds_the_last_second_and_resets_when_its_oldest_leaves() -> None:
    verdicts = _counts(Counter(), [0.2, 0.5, 0.9, 1.1, 1.2], limit=3, window=Window.SLIDING)
    # At 1.1 the one of 0.2 is still in the window (a fixed window would have renewed)
    assert [v.over for v in verdicts] == [False, False, False, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 0]
    # Until the oldest counted one leaves it: 0.2 + 1 - 1.1, then 0.5 + 1 - 1.2
    assert [round(v.reset, 3) for v in verdicts] == [1.0, 0.7, 0.3, 0.1, 0.3]


def test_a_refused_command_uses_nothing_up() -> None:
    counter = Counter()
    refused = _counts(counter, [0.1, 0.2, 0.3, 0.4], limit=1, window=Window.SLIDING)
    assert [v.over for v in refused] == [False, True, True, True]
    # One second after the only accepted one, the window is empty again
    assert not counter.count(T + 1.1, 1, Window.SLIDING).over


@pytest.mark.parametrize(
    ("seconds", "up", "down"),
    [(0.3, 1, 0), (0.999, 1, 0), (1.0, 1, 1), (1.0000000002, 1, 1), (0.0, 0, 0), (1.5, 2, 1)],
)
def test_the_reset_in_whole_seconds_is_rounded_up_or_down(
    seconds: float, up: int, down: int
) -> None:
    assert whole_seconds(seconds, Rounding.UP) == up
    assert whole_seconds(seconds, Rounding.DOWN) == down


def test_retry_after_rides_on_a_refusal_only_and_is_at_least_one_second() -> None:
    refused = Verdict(over=True, remaining=0, reset=0.3)
    assert headers(60, refused, Rounding.DOWN, retry_after=True) == {
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "0",
        "retry-after": "1",
    }
    assert "retry-after" not in headers(60, refused, Rounding.UP, retry_after=False)
    accepted = Verdict(over=False, remaining=5, reset=0.3)
    assert "retry-after" not in headers(60, accepted, Rounding.UP, retry_after=True)


# --- over HTTP, with the controls --------------------------------------------------------------
def _command(api: FakeTelnyxServer) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/conferences/c/actions/record_start",
        json={"format": "mp3"},
        headers={"authorization": f"Bearer {API_KEY}"},
    )


def _controls(api: FakeTelnyxServer) -> str:
    return api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults"


def test_by_default_windows_are_fixed_the_reset_rounded_up_and_a_429_says_retry_after(
    api: FakeTelnyxServer,
) -> None:
    api.state.clock = lambda: T + 0.7
    shown = httpx.post(_controls(api), json={"rate_limit": 2}).json()
    assert (shown["rate_window"], shown["reset_rounding"], shown["retry_after_on_429"]) == (
        "fixed",
        "up",
        True,
    )
    answers = [_command(api) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    # 0.3 s left in the window says "1"
    assert [a.headers["x-ratelimit-reset"] for a in answers] == ["1", "1", "1"]
    assert [a.headers.get("retry-after") for a in answers] == [None, None, "1"]
    assert answers[2].json()["errors"][0]["code"] == "10011"
    # The next second is a new window
    api.state.clock = lambda: T + 1.0
    assert _command(api).headers["x-ratelimit-remaining"] == "1"


def test_the_controls_choose_sliding_windows_a_reset_rounded_down_and_no_retry_after(
    api: FakeTelnyxServer,
) -> None:
    # Given a sliding window, a reset rounded down, no Retry-After
    body = {
        "rate_limit": 2,
        "rate_window": "sliding",
        "reset_rounding": "down",
        "retry_after_on_429": False,
    }
    shown = httpx.post(_controls(api), json=body).json()
    assert {key: shown[key] for key in body} == body
    # When two commands go at 0.7 and a third at 1.2
    api.state.clock = lambda: T + 0.7
    first = [_command(api) for _ in range(2)]
    api.state.clock = lambda: T + 1.2
    refused = _command(api)
    # Then the third is refused (both are within its last second), says "0" (0.5 s rounded
    # down) and no Retry-After
    assert [a.headers["x-ratelimit-remaining"] for a in first] == ["1", "0"]
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-reset"] == "0"
    assert "retry-after" not in refused.headers
    # ... and once the two have left the window, the limit is whole again
    api.state.clock = lambda: T + 1.7
    assert _command(api).headers["x-ratelimit-remaining"] == "1"


def test_a_reset_clears_the_limits_settings(api: FakeTelnyxServer) -> None:
    body = {"rate_limit": 5, "rate_window": "sliding", "reset_rounding": "down"}
    httpx.post(_controls(api), json={**body, "retry_after_on_429": False})
    httpx.post(_controls(api).replace("faults", "reset"))
    shown = httpx.get(_controls(api)).json()
    assert [shown[key] for key in [*body, "retry_after_on_429"]] == [None, "fixed", "up", True]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"rate_window": "rolling"}, 'rate_window must be "fixed" or "sliding"'),
        ({"reset_rounding": "nearest"}, 'reset_rounding must be "up" or "down"'),
        ({"retry_after_on_429": "no"}, "retry_after_on_429 must be true or false"),
    ],
)
def test_a_limit_setting_it_cannot_apply_is_400_with_the_reason(
    api: FakeTelnyxServer, body: object, reason: str
) -> None:
    answer = httpx.post(_controls(api), json=body)
    assert answer.status_code == 400
    assert reason in answer.json()["errors"][0]["detail"]
