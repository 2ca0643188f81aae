"""Which follow-up actions an event calls for. Pure: no I/O, no clock, no settings lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tasks.announcement import announcement, participant_name
from tasks.naming import command_id
from telnyx_api.client import EVERYONE, supports_command_id
from telnyx_api.events import ConferenceCreated, ConferenceParticipantJoined, Event


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


@dataclass(frozen=True)
class Policy:
    recording_format: str = "mp3"
    recording_channels: str = "single"
    announce_voice: str = "female"
    announce_language: str = "en-US"
    announce_template: str = "{name} has joined the conference."
    announce_fallback: str = "A new participant has joined the conference."


def plan(event: Event, policy: Policy) -> list[FollowUp]:
    """The follow-ups for one event; an event type with no rule gets none."""
    match event:
        case ConferenceCreated():
            params = {
                "format": policy.recording_format,
                "channels": policy.recording_channels,
            }
            return [
                _followup(
                    event.id, "conference", "record_start", event.payload.conference_id, params
                )
            ]
        case ConferenceParticipantJoined():
            name = participant_name(event.payload.client_state)
            params = {
                "payload": announcement(name, policy.announce_template, policy.announce_fallback),
                "voice": policy.announce_voice,
                "language": policy.announce_language,
                "payload_type": "text",
                "call_control_ids": EVERYONE,
            }
            return [_followup(event.id, "conference", "speak", event.payload.conference_id, params)]
    return []


def _followup(
    event_id: str,
    kind: Literal["conference", "call"],
    action: str,
    target: str,
    params: dict[str, Any],
) -> FollowUp:
    draft = FollowUp(kind, action, target, params)
    if not supports_command_id(kind, action):
        return draft
    return FollowUp(kind, action, target, {**params, "command_id": command_id(event_id, draft.key)})
