"""The text spoken when participants join or leave: who they are, from client_state, if anyone
said; and one sentence for several of them at once."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from core.templates import check_placeholders
from telnyx_api.params import MAX_SPEAK_PAYLOAD

MAX_NAME_CHARS = 100


def participant_name(client_state: str | None) -> str | None:
    """The name in client_state: base64 of JSON with a "name" field, or of plain text."""
    if not client_state:
        return None
    try:
        decoded = base64.b64decode(client_state, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    try:
        parsed = json.loads(decoded)
    except ValueError:
        return _clean(decoded)
    if isinstance(parsed, dict):
        name = parsed.get("name")
        return _clean(name) if isinstance(name, str) else None
    # A bare JSON string is plain text that happens to be quoted; numbers and lists are not names.
    return _clean(parsed) if isinstance(parsed, str) else None


def announcement(name: str | None, template: str, fallback: str) -> str:
    """The sentence to speak, within the API's length limit."""
    text = template.format(name=name) if name else fallback
    return text[:MAX_SPEAK_PAYLOAD]


def _clean(text: str) -> str | None:
    # Control and format characters would be read out or break the TTS engine; whitespace runs
    # collapse to one space.
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    name = " ".join(kept.split())[:MAX_NAME_CHARS].strip()
    return name or None


@dataclass(frozen=True)
class Chorus:
    """How several waiting announcements of one kind become one sentence:
    "Ada Lovelace, Grace Hopper and 37 others have joined the conference."

    A count only ever counts the people the sentence does not name."""

    template: str = "{names} have joined the conference."  # {names}: the list below
    names: int = 3  # how many names to say before giving the rest as a number
    others: str = "{count} others"  # the rest, when more than one
    one_other: str = "one other"  # the rest, when exactly one
    unnamed: str = "{count} participants"  # the list when nobody has a name
    conjunction: str = "and"

    def __post_init__(self) -> None:
        for text, allowed in (
            (self.template, {"names"}),
            (self.others, {"count"}),
            (self.one_other, set()),
            (self.unnamed, {"count"}),
            (self.conjunction, set()),
        ):
            check_placeholders(text, allowed)
        if not 0 <= self.names <= 20:
            raise ValueError("names must be between 0 and 20")


def chorus_text(names: Sequence[str | None], chorus: Chorus) -> str:
    """One sentence for everyone in `names` (in the order they joined or left; None for whoever
    has no name): the first named ones by name, the rest as a number."""
    named = [n for n in names if n][: chorus.names]
    rest = len(names) - len(named)
    if not named:
        listing = chorus.unnamed.format(count=rest)
    else:
        parts = list(named)
        if rest == 1:
            parts.append(chorus.one_other)
        elif rest > 1:
            parts.append(chorus.others.format(count=rest))
        listing = parts[0]
        if len(parts) > 1:
            listing = f"{', '.join(parts[:-1])} {chorus.conjunction} {parts[-1]}"
    return chorus.template.format(names=listing)[:MAX_SPEAK_PAYLOAD]


JOINED = Chorus()
LEFT = Chorus(template="{names} have left the conference.")
