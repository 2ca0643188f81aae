"""Telnyx webhook deliveries: the envelope and the 16 conference and queue event types.

Inbound models ignore unknown fields (Telnyx adds fields over time) and an event type we do not
know parses as `UnknownEvent` rather than failing, so a new event type is acknowledged, not
rejected. Only the ids our follow-ups need are required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from telnyx_api.params import MAX_CLIENT_STATE_LENGTH, MAX_ID_LENGTH, MAX_NAME_LENGTH

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
OptionalId = Annotated[str, Field(max_length=MAX_ID_LENGTH)] | None
Text = Annotated[str, Field(max_length=MAX_NAME_LENGTH)] | None
Url = Annotated[str, Field(max_length=2048)] | None


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CallPayload(_Inbound):
    call_control_id: OptionalId = None
    call_leg_id: OptionalId = None
    call_session_id: OptionalId = None
    client_state: Annotated[str, Field(max_length=MAX_CLIENT_STATE_LENGTH)] | None = None
    connection_id: OptionalId = None
    occurred_at: datetime | None = None


class ConferencePayload(CallPayload):
    conference_id: Id


class ConferenceEndedPayload(ConferencePayload):
    reason: Text = None  # all_left, host_left, time_exceeded


class PlaybackPayload(ConferencePayload):
    media_url: Url = None
    media_name: Text = None
    creator_call_session_id: OptionalId = None


class RecordingSavedPayload(ConferencePayload):
    recording_id: OptionalId = None
    format: Text = None
    channels: Text = None
    recording_urls: dict[str, Url] = {}
    public_recording_urls: dict[str, Url] = {}
    recording_started_at: datetime | None = None
    recording_ended_at: datetime | None = None


class EnqueuedPayload(CallPayload):
    queue: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    current_position: int | None = None
    queue_avg_wait_time_secs: int | None = None


class DequeuedPayload(CallPayload):
    queue: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    queue_position: int | None = None
    reason: Text = None  # bridged, bridging-in-process, hangup, leave, timeout
    wait_time_secs: int | None = None


class _Event(_Inbound):
    record_type: Literal["event"] = "event"
    id: Id
    occurred_at: datetime | None = None

    @property
    def when(self) -> datetime | None:
        """When it happened: `data.occurred_at`, else `data.payload.occurred_at`."""
        if self.occurred_at is not None:
            return self.occurred_at
        payload = getattr(self, "payload", None)
        return getattr(payload, "occurred_at", None)

    @property
    def conference_id(self) -> str | None:
        return getattr(getattr(self, "payload", None), "conference_id", None)


class CallEnqueued(_Event):
    event_type: Literal["call.enqueued"]
    payload: EnqueuedPayload


class CallDequeued(_Event):
    # Telnyx sends call.dequeued; older material calls the same event call.left_queue.
    event_type: Literal["call.dequeued", "call.left_queue"]
    payload: DequeuedPayload


class ConferenceCreated(_Event):
    event_type: Literal["conference.created"]
    payload: ConferencePayload


class ConferenceEnded(_Event):
    event_type: Literal["conference.ended"]
    payload: ConferenceEndedPayload


class ConferenceFloorChanged(_Event):
    event_type: Literal["conference.floor.changed"]
    payload: ConferencePayload


class ConferenceParticipantJoined(_Event):
    event_type: Literal["conference.participant.joined"]
    payload: ConferencePayload


class ConferenceParticipantLeft(_Event):
    event_type: Literal["conference.participant.left"]
    payload: ConferencePayload


class ConferenceParticipantPlaybackStarted(_Event):
    event_type: Literal["conference.participant.playback.started"]
    payload: PlaybackPayload


class ConferenceParticipantPlaybackEnded(_Event):
    event_type: Literal["conference.participant.playback.ended"]
    payload: PlaybackPayload


class ConferenceParticipantSpeakStarted(_Event):
    event_type: Literal["conference.participant.speak.started"]
    payload: ConferencePayload


class ConferenceParticipantSpeakEnded(_Event):
    event_type: Literal["conference.participant.speak.ended"]
    payload: ConferencePayload


class ConferencePlaybackStarted(_Event):
    event_type: Literal["conference.playback.started"]
    payload: PlaybackPayload


class ConferencePlaybackEnded(_Event):
    event_type: Literal["conference.playback.ended"]
    payload: PlaybackPayload


class ConferenceRecordingSaved(_Event):
    event_type: Literal["conference.recording.saved"]
    payload: RecordingSavedPayload


class ConferenceSpeakStarted(_Event):
    event_type: Literal["conference.speak.started"]
    payload: ConferencePayload


class ConferenceSpeakEnded(_Event):
    event_type: Literal["conference.speak.ended"]
    payload: ConferencePayload


class UnknownEvent(_Event):
    """An event type this version does not know: acknowledged, kept, and ignored by the workers."""

    event_type: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    payload: dict[str, Any] = {}


KNOWN_EVENTS: dict[str, type[_Event]] = {
    "call.enqueued": CallEnqueued,
    "call.dequeued": CallDequeued,
    "call.left_queue": CallDequeued,
    "conference.created": ConferenceCreated,
    "conference.ended": ConferenceEnded,
    "conference.floor.changed": ConferenceFloorChanged,
    "conference.participant.joined": ConferenceParticipantJoined,
    "conference.participant.left": ConferenceParticipantLeft,
    "conference.participant.playback.started": ConferenceParticipantPlaybackStarted,
    "conference.participant.playback.ended": ConferenceParticipantPlaybackEnded,
    "conference.participant.speak.started": ConferenceParticipantSpeakStarted,
    "conference.participant.speak.ended": ConferenceParticipantSpeakEnded,
    "conference.playback.started": ConferencePlaybackStarted,
    "conference.playback.ended": ConferencePlaybackEnded,
    "conference.recording.saved": ConferenceRecordingSaved,
    "conference.speak.started": ConferenceSpeakStarted,
    "conference.speak.ended": ConferenceSpeakEnded,
}
#: The 16 distinct event types (call.left_queue is another name for call.dequeued).
EVENT_TYPES = tuple(name for name in KNOWN_EVENTS if name != "call.left_queue")


def _event_tag(value: Any) -> str:
    event_type = (
        value.get("event_type") if isinstance(value, dict) else getattr(value, "event_type", None)
    )
    if not isinstance(event_type, str):
        # Not a string at all: UnknownEvent's own validation rejects it with a clear error.
        return "unknown"
    if event_type == "call.left_queue":
        return "call.dequeued"
    return event_type if event_type in KNOWN_EVENTS else "unknown"


Event = Annotated[
    Annotated[CallEnqueued, Tag("call.enqueued")]
    | Annotated[CallDequeued, Tag("call.dequeued")]
    | Annotated[ConferenceCreated, Tag("conference.created")]
    | Annotated[ConferenceEnded, Tag("conference.ended")]
    | Annotated[ConferenceFloorChanged, Tag("conference.floor.changed")]
    | Annotated[ConferenceParticipantJoined, Tag("conference.participant.joined")]
    | Annotated[ConferenceParticipantLeft, Tag("conference.participant.left")]
    | Annotated[
        ConferenceParticipantPlaybackStarted, Tag("conference.participant.playback.started")
    ]
    | Annotated[ConferenceParticipantPlaybackEnded, Tag("conference.participant.playback.ended")]
    | Annotated[ConferenceParticipantSpeakStarted, Tag("conference.participant.speak.started")]
    | Annotated[ConferenceParticipantSpeakEnded, Tag("conference.participant.speak.ended")]
    | Annotated[ConferencePlaybackStarted, Tag("conference.playback.started")]
    | Annotated[ConferencePlaybackEnded, Tag("conference.playback.ended")]
    | Annotated[ConferenceRecordingSaved, Tag("conference.recording.saved")]
    | Annotated[ConferenceSpeakStarted, Tag("conference.speak.started")]
    | Annotated[ConferenceSpeakEnded, Tag("conference.speak.ended")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(_event_tag),
]


class DeliveryMeta(_Inbound):
    attempt: int | None = None
    delivered_to: Url = None


class Envelope(_Inbound):
    """One webhook delivery: `{"data": <event>, "meta": {"attempt", "delivered_to"}}`."""

    data: Event
    meta: DeliveryMeta | None = None
