"""Who an announcement covers, read back from its text: the default English words of
followups/announcement.py ("Ada Lovelace, Grace Hopper and 37 others have joined the
conference."). For checking what the local API received; names must not contain ", " or " and "."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sandbox.api.recorded import RecordedRequest

_ONE = re.compile(r"(?P<name>.+) has (?P<kind>joined|left) the conference\.")
_UNNAMED_ONE = {
    "A new participant has joined the conference.": "joined",
    "A participant has left the conference.": "left",
}
_MERGED = re.compile(r"(?P<listing>.+) have (?P<kind>joined|left) the conference\.")


@dataclass
class Covered:
    kind: str  # joined or left
    named: list[str] = field(default_factory=list)
    unnamed: int = 0  # covered by a number, or by the sentence for someone without a name

    @property
    def total(self) -> int:
        return len(self.named) + self.unnamed


def covered(text: str) -> Covered | None:
    """Whom a speak's text announces; None for a text that is no join or leave announcement."""
    if text in _UNNAMED_ONE:
        return Covered(_UNNAMED_ONE[text], unnamed=1)
    merged = _MERGED.fullmatch(text)
    if merged:
        return _listing(merged["listing"], merged["kind"])
    one = _ONE.fullmatch(text)
    if one:
        return Covered(one["kind"], named=[one["name"]])
    return None


def announced(requests: Iterable[RecordedRequest], target: str | None = None) -> list[Covered]:
    """Whom the accepted speak commands among `requests` (for `target`, if given) announced,
    in the order they were sent."""
    found = [
        covered(str((r.body or {}).get("payload")))
        for r in requests
        if r.action == "speak" and 200 <= r.status < 300 and target in (None, r.target)
    ]
    return [c for c in found if c is not None]


def _listing(listing: str, kind: str) -> Covered:
    result = Covered(kind)
    count = re.fullmatch(r"(\d+) participants", listing)
    if count:
        result.unnamed = int(count[1])
        return result
    head, sep, last = listing.rpartition(" and ")
    parts = [*head.split(", "), last] if sep else [listing]
    for part in parts:
        others = re.fullmatch(r"(\d+) others", part)
        if part == "one other":
            result.unnamed += 1
        elif others:
            result.unnamed += int(others[1])
        else:
            result.named.append(part)
    return result
