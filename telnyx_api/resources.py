"""What Telnyx answers: conferences, participants, command results and list pages.

Parsed leniently: Telnyx adds fields over time, so unknown ones are ignored and only the ids
are required.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Resource(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CommandResult(Resource):
    """The answer to every conference and call command: `{"data": {"result": "ok"}}`."""

    result: str = ""


class Conference(Resource):
    id: str
    name: str = ""
    record_type: str = "conference"
    status: str | None = None  # init, in_progress, completed
    region: str | None = None
    connection_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    end_reason: str | None = None  # all_left, ended_via_api, host_left, time_exceeded
    ended_by: dict[str, Any] | None = None


class ConferenceRef(Resource):
    id: str | None = None
    name: str | None = None


class Participant(Resource):
    id: str
    call_control_id: str = ""
    record_type: str = "participant"
    call_leg_id: str | None = None
    conference: ConferenceRef | None = None
    status: str | None = None  # joining, joined, left
    muted: bool | None = None
    on_hold: bool | None = None
    end_conference_on_exit: bool | None = None
    soft_end_conference_on_exit: bool | None = None
    whisper_call_control_ids: list[str] = []
    created_at: str | None = None
    updated_at: str | None = None


class PageMeta(Resource):
    page_number: int = 1
    page_size: int = 0
    total_pages: int = 1
    total_results: int = 0
