"""Redis's replies as Python values."""

from __future__ import annotations


def text(value: object) -> str:
    """A reply as text: bytes from a client that does not decode, anything else as it prints."""
    return value.decode() if isinstance(value, bytes) else str(value)
