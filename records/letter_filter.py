"""Which dead letters an operator means: by what failures share (their conference, action,
Telnyx error code, HTTP status) and when they failed (`--since 10m`, `--until 2h`, or a time).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from records.deadletters import DeadLetter

_DURATION = re.compile(r"^(\d{1,7})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Bound every input: an id or a code longer than this names nothing we store.
MAX_TEXT = 200
# The longest ISO 8601 time (with microseconds and an offset) is 32 characters.
_MAX_WHEN = 40


def parse_when(text: str, now: float | None = None) -> float:
    """An instant (epoch s) from a duration back from now (`10m`, `2h`, `90s`, `1d`) or an ISO
    8601 time (UTC unless it says otherwise). ValueError for anything else."""
    now = time.time() if now is None else now
    text = text.strip()
    if len(text) > _MAX_WHEN:
        raise ValueError(f"{text[:_MAX_WHEN]!r}... is neither a duration nor a time: too long")
    found = _DURATION.match(text)
    if found:
        return now - int(found.group(1)) * _UNITS[found.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (10m, 2h) nor an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True)
class LetterFilter:
    """Every condition given must hold; none given matches every letter."""

    conference: str | None = None
    action: str | None = None  # conference.speak, or speak
    code: str | None = None  # one of Telnyx's error codes (10010)
    status: int | None = None  # the HTTP status of the last answer
    since: float | None = None  # failed at or after (epoch s)
    until: float | None = None  # failed at or before

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)

    def matches(self, letter: DeadLetter) -> bool:
        if self.conference is not None and letter.conference != self.conference:
            return False
        if self.action is not None and self.action not in (
            letter.task,
            letter.task.split(".", 1)[-1],
        ):
            return False
        if self.code is not None and self.code not in letter.codes:
            return False
        if self.status is not None and letter.status != self.status:
            return False
        if self.since is not None and letter.failed_at < self.since:
            return False
        return self.until is None or letter.failed_at <= self.until
