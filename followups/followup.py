"""One Telnyx command that an event calls for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class FollowUp:
    """One Telnyx command to send because of one event."""

    kind: Literal["conference", "call"]
    action: str
    target: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Names this follow-up within its event; the base of its command_id and task id."""
        return f"{self.kind}.{self.action}:{self.target}"
