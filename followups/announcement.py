"""The text spoken when a participant joins: who they are, from client_state, if anyone said."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata

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
