"""Request bodies of the Telnyx conference and queue commands, checked before anything is sent.

Field names, enums and bounds follow Telnyx's OpenAPI spec. Every model forbids unknown fields,
so a typo is an error here rather than a field Telnyx silently ignores.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Bounds of our own where the spec gives none: generous for real use, small enough that a
# runaway value is caught here rather than by Telnyx.
MAX_ID_LENGTH = 256
MAX_CLIENT_STATE_LENGTH = 4096
MAX_URL_LENGTH = 2048
MAX_NAME_LENGTH = 255
MAX_CALL_CONTROL_IDS = 500
MAX_SPEAK_PAYLOAD = 3000  # the API's own limit for speak

Region = Literal["Australia", "Europe", "Middle East", "US"]
BeepEnabled = Literal["always", "never", "on_enter", "on_exit"]
SupervisorRole = Literal["barge", "monitor", "none", "whisper"]
RecordingFormat = Literal["wav", "mp3"]
RecordingChannels = Literal["single", "dual"]
PayloadType = Literal["text", "ssml"]
Language = Literal[
    "arb", "cmn-CN", "cy-GB", "da-DK", "de-DE", "en-AU", "en-GB", "en-GB-WLS", "en-IN", "en-US",
    "es-ES", "es-MX", "es-US", "fr-CA", "fr-FR", "hi-IN", "is-IS", "it-IT", "ja-JP", "ko-KR",
    "nb-NO", "nl-NL", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU", "sv-SE", "tr-TR",
]  # fmt: skip
ConferenceStatus = Literal["init", "in_progress", "completed"]

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
ClientState = Annotated[str, Field(max_length=MAX_CLIENT_STATE_LENGTH)]
CommandId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
# None means "every participant" on the wire; an empty list is never sent by accident.
CallControlIds = Annotated[list[Id], Field(min_length=1, max_length=MAX_CALL_CONTROL_IDS)]
Loop = Annotated[int, Field(ge=1, le=100)] | Literal["infinity"]


class RequestBody(BaseModel):
    """Base of every request body: strict about names, omits what was not given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _OneAudioSource(RequestBody):
    """`audio_url` and `media_name` are alternatives: never both."""

    @model_validator(mode="after")
    def _one_audio_source(self) -> _OneAudioSource:
        pairs = (("audio_url", "media_name"), ("hold_audio_url", "hold_media_name"))
        for url_field, media_field in pairs:
            if getattr(self, url_field, None) and getattr(self, media_field, None):
                raise ValueError(f"give {url_field} or {media_field}, not both")
        return self


class EnqueueRequest(RequestBody):
    queue_name: Name
    max_size: Annotated[int, Field(ge=1)] | None = None
    max_wait_time_secs: Annotated[int, Field(ge=1)] | None = None
    keep_after_hangup: bool | None = None
    client_state: ClientState | None = None
    command_id: CommandId | None = None


class LeaveQueueRequest(RequestBody):
    client_state: ClientState | None = None
    command_id: CommandId | None = None


class CreateConferenceRequest(_OneAudioSource):
    call_control_id: Id
    name: Name
    beep_enabled: BeepEnabled | None = None
    client_state: ClientState | None = None
    comfort_noise: bool | None = None
    command_id: CommandId | None = None
    duration_minutes: Annotated[int, Field(ge=1)] | None = None
    hold_audio_url: Url | None = None
    hold_media_name: Name | None = None
    max_participants: Annotated[int, Field(ge=2)] | None = None
    region: Region | None = None
    start_conference_on_create: bool | None = None


class HoldRequest(_OneAudioSource):
    call_control_ids: CallControlIds | None = None
    audio_url: Url | None = None
    media_name: Name | None = None
    region: Region | None = None


class UnholdRequest(RequestBody):
    call_control_ids: CallControlIds
    region: Region | None = None


class JoinRequest(_OneAudioSource):
    call_control_id: Id
    beep_enabled: BeepEnabled | None = None
    client_state: ClientState | None = None
    command_id: CommandId | None = None
    end_conference_on_exit: bool | None = None
    soft_end_conference_on_exit: bool | None = None
    hold: bool | None = None
    hold_audio_url: Url | None = None
    hold_media_name: Name | None = None
    mute: bool | None = None
    start_conference_on_enter: bool | None = None
    supervisor_role: SupervisorRole | None = None
    whisper_call_control_ids: CallControlIds | None = None
    region: Region | None = None


class LeaveRequest(RequestBody):
    call_control_id: Id
    beep_enabled: BeepEnabled | None = None
    command_id: CommandId | None = None
    region: Region | None = None


class MuteRequest(RequestBody):
    call_control_ids: CallControlIds | None = None
    region: Region | None = None


class UnmuteRequest(MuteRequest):
    pass


class PlayRequest(_OneAudioSource):
    audio_url: Url | None = None
    media_name: Name | None = None
    call_control_ids: CallControlIds | None = None
    loop: Loop | None = None
    region: Region | None = None


class StopRequest(MuteRequest):
    pass


class SpeakRequest(RequestBody):
    payload: Annotated[str, Field(min_length=1, max_length=MAX_SPEAK_PAYLOAD)]
    voice: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    payload_type: PayloadType | None = None
    language: Language | None = None
    call_control_ids: CallControlIds | None = None
    command_id: CommandId | None = None
    voice_settings: dict[str, Any] | None = None
    region: Region | None = None


class RecordStartRequest(RequestBody):
    format: RecordingFormat
    channels: RecordingChannels | None = None
    trim: Literal["trim-silence"] | None = None
    custom_file_name: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    play_beep: bool | None = None
    command_id: CommandId | None = None
    region: Region | None = None


class RecordPauseRequest(RequestBody):
    command_id: CommandId | None = None
    recording_id: Id | None = None
    region: Region | None = None


class RecordResumeRequest(RecordPauseRequest):
    pass


class RecordStopRequest(RequestBody):
    client_state: ClientState | None = None
    command_id: CommandId | None = None
    recording_id: Id | None = None
    region: Region | None = None


class UpdateRequest(RequestBody):
    call_control_id: Id
    supervisor_role: SupervisorRole
    whisper_call_control_ids: CallControlIds | None = None
    command_id: CommandId | None = None
    region: Region | None = None
