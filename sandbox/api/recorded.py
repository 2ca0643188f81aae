"""One request as the server saw and answered it, for tests and tools to read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    received_at: float
    # A command_id already accepted for this target, and how long after the first: Telnyx
    # ignores a repeat within 60 s.
    duplicate: bool = False
    repeat_after: float | None = None

    @property
    def action(self) -> str | None:
        """`record_start` for POST .../actions/record_start, else None."""
        parts = self.path.split("/")
        return parts[-1] if len(parts) >= 2 and parts[-2] == "actions" else None

    @property
    def target(self) -> str | None:
        """The decoded conference or call id of an action request."""
        parts = self.path.split("/")
        return unquote(parts[-3]) if self.action and len(parts) >= 4 else None
