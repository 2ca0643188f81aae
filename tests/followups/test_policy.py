from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from core.naming import command_id
from followups.followup import FollowUp
from followups.policy import Policy, default_rules
from followups.rules import plan as plan_by
from sandbox.events import client_state, make_event
from telnyx_api.events import EVENT_TYPES, Event

EVENT = TypeAdapter(Event)


def plan(event: Event, policy: Policy) -> list[FollowUp]:
    """The defaults are built-in rules that the settings fill in."""
    return plan_by(event, default_rules(policy))


def _event(event_type: str, **payload: object) -> Event:
    return EVENT.validate_python(make_event(event_type, **payload)["data"])


def test_conference_created_starts_a_recording_with_the_configured_format() -> None:
    event = _event("conference.created", conference_id="conf-1")
    [followup] = plan(event, Policy(recording_format="wav", recording_channels="dual"))
    assert (followup.kind, followup.action, followup.target) == (
        "conference",
        "record_start",
        "conf-1",
    )
    assert followup.params == {
        "format": "wav",
        "channels": "dual",
        "command_id": command_id(event.id, "conference.record_start:conf-1"),
    }


def test_a_join_is_announced_to_everyone_by_name() -> None:
    event = _event(
        "conference.participant.joined",
        conference_id="conf-1",
        client_state=client_state({"name": "Alice"}),
    )
    [followup] = plan(event, Policy(announce_voice="male", announce_language="de-DE"))
    assert followup.action == "speak"
    assert followup.params["payload"] == "Alice has joined the conference."
    assert followup.params["voice"] == "male"
    assert followup.params["language"] == "de-DE"
    assert followup.params["call_control_ids"] == "everyone"


def test_the_command_id_is_deterministic_per_event_and_action() -> None:
    event = _event("conference.created", conference_id="c")
    first = plan(event, Policy())[0].params["command_id"]
    assert plan(event, Policy())[0].params["command_id"] == first
    other = _event("conference.created", conference_id="c")
    assert plan(other, Policy())[0].params["command_id"] != first


@pytest.mark.parametrize(
    "event_type",
    [t for t in EVENT_TYPES if t not in ("conference.created", "conference.participant.joined")],
)
def test_other_events_have_no_default_followup(event_type: str) -> None:
    assert plan(_event(event_type), Policy()) == []


def test_unknown_events_have_no_followup() -> None:
    assert plan(_event("conference.something_new"), Policy()) == []


def test_settings_text_is_spoken_as_written_braces_and_all() -> None:
    event = _event("conference.participant.joined", conference_id="conf-1")
    policy = Policy(announce_fallback="Someone {new} joined.", announce_voice="{odd}")
    [followup] = plan(event, policy)
    assert followup.params["payload"] == "Someone {new} joined."
    assert followup.params["voice"] == "{odd}"
