"""One Telnyx command that an event calls for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from followups.announcement import Chorus

# The actions that go first by default when the fleet is paced.
FIRST_ACTIONS = frozenset({"record_start"})


@dataclass(frozen=True)
class Announce:
    """What makes a follow-up an announcement of one participant joining or leaving: waiting
    beside others of its group in its conference's lane, it is merged with them into one
    sentence; and a join announcement is moot once its participant has left."""

    group: str  # announcements merge only within a group (one rule, one event type, one voice)
    chorus: Chorus
    name: str | None  # the participant's name, if client_state gave one
    participant: str | None  # their call_control_id
    joined: bool  # a join (moot once they left), or a leave


@dataclass(frozen=True)
class FollowUp:
    """One Telnyx command to send because of one event."""

    kind: Literal["conference", "call"]
    action: str
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    announce: Announce | None = None
    # Retried until its event is this old (s), then given up on as expired; None: the default
    # for its kind (an announcement's is shorter: it is moot minutes later).
    max_age: int | None = None
    # The rule that planned it, for the conference's timeline: "rule<N>" of a rules file, or
    # "built-in". (Not kept in the lane: only the plan says it.)
    rule: str | None = field(default=None, compare=False)
    # Its class when the fleet is paced (records/fleet.py): "first" goes before "normal";
    # None: its action's (a recording first: every second it waits is a second of the call
    # lost for good; an announcement late is only late).
    priority: Literal["first", "normal"] | None = None

    @property
    def goes_first(self) -> bool:
        """Whether it goes before the others when the fleet's pace makes commands wait."""
        return goes_first(self.action, self.priority)

    @property
    def key(self) -> str:
        """Names this follow-up within its event; the base of its command_id and task id."""
        return f"{self.kind}.{self.action}:{self.target}"


def goes_first(action: str, priority: str | None) -> bool:
    """Whether a command of `action` goes before the others when the fleet's pace makes
    commands wait: its rule's `priority` if it gave one, else its action's default."""
    return priority == "first" if priority is not None else action in FIRST_ACTIONS
