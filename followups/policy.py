"""The default follow-ups, as built-in rules that the settings fill in: record a conference when
it is created, announce who joins. A rules file replaces them, or extends them with
`include_defaults = true`. Pure: no I/O, no clock, no settings lookups."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from followups.announcement import JOINED, Chorus
from followups.rules import Rule
from telnyx_api.client import EVERYONE


@dataclass(frozen=True)
class Policy:
    recording_format: str = "mp3"
    recording_channels: str = "single"
    announce_voice: str = "female"
    announce_language: str = "en-US"
    announce_template: str = "{name} has joined the conference."
    announce_fallback: str = "A new participant has joined the conference."
    # Several joins waiting at once: one sentence, "Ada, Grace and 37 others have joined ...".
    announce_chorus: Chorus = JOINED


def default_rules(policy: Policy) -> list[Rule]:
    """The built-in rules. Their follow-ups keep the keys (so the task ids and command_ids) the
    defaults have always had: an event redelivered across an upgrade is not acted on twice."""
    return [
        Rule(
            on=["conference.created"],
            action="conference.record_start",
            params={
                "format": _literal(policy.recording_format),
                "channels": _literal(policy.recording_channels),
            },
            key=None,
        ),
        Rule(
            on=["conference.participant.joined"],
            action="conference.speak",
            params={
                # ANNOUNCE_TEMPLATE's only placeholder is {name} (checked in the settings).
                "payload": policy.announce_template,
                "voice": _literal(policy.announce_voice),
                "language": _literal(policy.announce_language),
                "payload_type": "text",
                "call_control_ids": EVERYONE,
            },
            fallback={"payload": _literal(policy.announce_fallback)},
            merge=asdict(policy.announce_chorus),
            key=None,
        ),
    ]


def _literal(text: str) -> str:
    """A setting's text as a template that renders to exactly that text."""
    return text.replace("{", "{{").replace("}", "}}")
