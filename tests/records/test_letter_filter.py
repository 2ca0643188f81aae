"""Dead letters chosen by what their failures share: records/letter_filter.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from records.deadletters import DeadLetter
from records.letter_filter import LetterFilter, parse_when

NOW = 1_800_000_000.0
LETTER = DeadLetter(
    task_id="t", task="conference.speak", args=["conf-1", {}, {}], reason="rejected",
    error="HTTP 403", status=403, codes=["10010"], failed_at=NOW - 300,
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10m", NOW - 600), ("2h", NOW - 7200), ("90s", NOW - 90), ("1d", NOW - 86400),
     ("2027-01-15T08:00:00+00:00", datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()),
     ("2027-01-15T08:00:00", datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp())],
)  # fmt: skip
def test_when_is_a_duration_back_from_now_or_a_time(text: str, expected: float) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "-5m", "10y", "yesterday", "1" * 500])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_when(text, now=NOW)


@pytest.mark.parametrize(
    ("chosen", "matches"),
    [
        (LetterFilter(), True),
        (LetterFilter(conference="conf-1"), True),
        (LetterFilter(conference="conf-2"), False),
        (LetterFilter(action="speak"), True),
        (LetterFilter(action="conference.speak"), True),
        (LetterFilter(action="record_start"), False),
        (LetterFilter(code="10010"), True),
        (LetterFilter(code="10011"), False),
        (LetterFilter(status=403), True),
        (LetterFilter(status=401), False),
        (LetterFilter(since=NOW - 600), True),
        (LetterFilter(since=NOW - 60), False),
        (LetterFilter(until=NOW - 60), True),
        (LetterFilter(until=NOW - 600), False),
        (LetterFilter(code="10010", since=NOW - 60), False),
    ],
)
def test_every_condition_given_must_hold(chosen: LetterFilter, matches: bool) -> None:
    assert chosen.matches(LETTER) is matches


def test_a_lane_letter_names_its_conference_whatever_its_target() -> None:
    call = dataclasses.replace(LETTER, task="call.speak", args=["call-1", {}, {}])
    assert LetterFilter(conference="conf-1").matches(call) is False
    lane = dataclasses.replace(call, conference_id="conf-1")
    assert LetterFilter(conference="conf-1").matches(lane) is True
