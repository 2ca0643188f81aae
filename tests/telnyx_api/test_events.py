from __future__ import annotations

import json

import pytest

from sandbox.events import make_event
from telnyx_api import events as ev
from telnyx_api.events import EVENT_TYPES, Envelope

# A delivery shaped exactly as Telnyx documents conference.participant.joined.
PARTICIPANT_JOINED = {
    "data": {
        "event_type": "conference.participant.joined",
        "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at": "2018-02-02T22:25:27.521992Z",
        "payload": {
            "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
            "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "conference_id": "428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
            "connection_id": "7267xxxxxxxxxxxxxx",
        },
        "record_type": "event",
    },
    "meta": {"attempt": 1, "delivered_to": "https://example.com/webhooks"},
}


def test_the_documented_join_payload_parses() -> None:
    event = Envelope.model_validate(PARTICIPANT_JOINED).data
    assert isinstance(event, ev.ConferenceParticipantJoined)
    assert event.conference_id == "428c31b6-abf3-3bc1-b7f4-5013ef9657c1"
    assert event.when is not None
    assert event.when.year == 2018


def test_there_are_sixteen_event_types() -> None:
    assert len(EVENT_TYPES) == 16


@pytest.mark.parametrize("event_type", [*EVENT_TYPES, "call.left_queue"])
def test_every_event_type_parses_to_its_own_model(event_type: str) -> None:
    event = Envelope.model_validate_json(json.dumps(make_event(event_type))).data
    assert type(event) is ev.KNOWN_EVENTS[event_type]
    assert event.event_type == event_type
    assert event.when is not None


def test_dequeued_and_left_queue_are_the_same_event() -> None:
    a = Envelope.model_validate(make_event("call.dequeued")).data
    b = Envelope.model_validate(make_event("call.left_queue")).data
    assert type(a) is type(b) is ev.CallDequeued


def test_occurred_at_falls_back_to_the_payload() -> None:
    body = make_event("conference.created")
    assert "occurred_at" not in body["data"]
    event = Envelope.model_validate(body).data
    assert event.when is not None


def test_unknown_fields_are_ignored_everywhere() -> None:
    body = make_event("conference.recording.saved", new_field={"x": 1})
    body["data"]["also_new"] = True
    body["unexpected"] = []
    event = Envelope.model_validate(body).data
    assert isinstance(event, ev.ConferenceRecordingSaved)


def test_an_unknown_event_type_becomes_unknown_event() -> None:
    event = Envelope.model_validate(make_event("conference.future_thing")).data
    assert isinstance(event, ev.UnknownEvent)
    assert event.event_type == "conference.future_thing"


def test_meta_may_be_absent() -> None:
    body = make_event("call.enqueued")
    del body["meta"]
    assert Envelope.model_validate(body).meta is None


def test_recording_saved_keeps_its_urls() -> None:
    body = make_event(
        "conference.recording.saved",
        recording_urls={"mp3": "https://r/x.mp3"},
        public_recording_urls={"wav": "https://r/x.wav"},
        format="mp3",
    )
    event = Envelope.model_validate(body).data
    assert isinstance(event, ev.ConferenceRecordingSaved)
    assert event.payload.recording_urls == {"mp3": "https://r/x.mp3"}
    assert event.payload.public_recording_urls == {"wav": "https://r/x.wav"}
