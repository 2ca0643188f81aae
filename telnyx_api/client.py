"""A typed client for Telnyx's conference and queue API, shaped like the official SDKs.

    client = TelnyxClient(api_key=...)
    client.conferences.actions.record_start("conf-id", format="mp3", command_id="...")
    for conference in client.conferences.list(filter={"status": "in_progress"}):
        ...

Every body is validated against `telnyx_api.params` before it is sent; every failure is one of
`telnyx_api.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

import httpx
from pydantic import ValidationError

from telnyx_api import params as p
from telnyx_api.errors import InvalidRequestError
from telnyx_api.pagination import MAX_PAGE_SIZE, Page, parse_page
from telnyx_api.resources import CommandResult, Conference, Participant
from telnyx_api.transport import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Transport, path_segment

#: Pass as `call_control_ids` to address every participant, explicitly. Leaving the argument out
#: does the same, as in the API and the official SDKs; an empty list is refused, because it is
#: more often a filter that matched nobody than a wish to address everyone.
EVERYONE: Literal["everyone"] = "everyone"
Participants = list[str] | Literal["everyone"]

# action name -> (request model, whether it addresses a set of participants)
CONFERENCE_ACTIONS: dict[str, tuple[type[p.RequestBody], bool]] = {
    "hold": (p.HoldRequest, True),
    "unhold": (p.UnholdRequest, False),
    "join": (p.JoinRequest, False),
    "leave": (p.LeaveRequest, False),
    "mute": (p.MuteRequest, True),
    "unmute": (p.UnmuteRequest, True),
    "play": (p.PlayRequest, True),
    "stop": (p.StopRequest, True),
    "speak": (p.SpeakRequest, True),
    "record_start": (p.RecordStartRequest, False),
    "record_pause": (p.RecordPauseRequest, False),
    "record_resume": (p.RecordResumeRequest, False),
    "record_stop": (p.RecordStopRequest, False),
    "update": (p.UpdateRequest, False),
}
CALL_ACTIONS: dict[str, type[p.RequestBody]] = {
    "enqueue": p.EnqueueRequest,
    "leave_queue": p.LeaveQueueRequest,
}


def supports_command_id(kind: str, action: str) -> bool:
    """Whether the action's body takes a command_id (Telnyx's 60-second idempotency key).

    hold, unhold, mute, unmute, play and stop do not: only our own records dedupe those.
    """
    if kind == "conference" and action in CONFERENCE_ACTIONS:
        return "command_id" in CONFERENCE_ACTIONS[action][0].model_fields
    if kind == "call" and action in CALL_ACTIONS:
        return "command_id" in CALL_ACTIONS[action].model_fields
    return False


def build_body(model: type[p.RequestBody], params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate params against a request model and return the JSON body to send."""
    try:
        return model.model_validate(dict(params)).to_json()
    except ValidationError as exc:
        raise InvalidRequestError(_describe(exc)) from exc


def participants_param(value: Participants | None) -> list[str] | None:
    """Map the explicit `EVERYONE` / list choice onto the wire's optional list."""
    if value == EVERYONE:
        return None
    if value is None or isinstance(value, str) or not value:
        raise InvalidRequestError(
            "call_control_ids must be a non-empty list of call control ids, or EVERYONE"
        )
    return list(value)


class ConferenceActions:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def perform(self, action: str, id: str, params: Mapping[str, Any]) -> CommandResult:
        """Run any conference action by name. Where the action addresses participants, a
        missing `call_control_ids` (or EVERYONE) means every participant."""
        if action not in CONFERENCE_ACTIONS:
            raise InvalidRequestError(f"unknown conference action {action!r}")
        model, addresses_participants = CONFERENCE_ACTIONS[action]
        body = dict(params)
        if addresses_participants:
            body["call_control_ids"] = participants_param(body.get("call_control_ids", EVERYONE))
        data = self._transport.request(
            "POST",
            f"/conferences/{path_segment(id)}/actions/{action}",
            json=build_body(model, body),
        )
        return CommandResult.model_validate(_data(data))

    def hold(
        self, id: str, *, call_control_ids: Participants = EVERYONE, **params: Any
    ) -> CommandResult:
        return self.perform("hold", id, {"call_control_ids": call_control_ids, **params})

    def unhold(self, id: str, *, call_control_ids: list[str], **params: Any) -> CommandResult:
        return self.perform("unhold", id, {"call_control_ids": call_control_ids, **params})

    def join(self, id: str, *, call_control_id: str, **params: Any) -> CommandResult:
        return self.perform("join", id, {"call_control_id": call_control_id, **params})

    def leave(self, id: str, *, call_control_id: str, **params: Any) -> CommandResult:
        return self.perform("leave", id, {"call_control_id": call_control_id, **params})

    def mute(
        self, id: str, *, call_control_ids: Participants = EVERYONE, **params: Any
    ) -> CommandResult:
        return self.perform("mute", id, {"call_control_ids": call_control_ids, **params})

    def unmute(
        self, id: str, *, call_control_ids: Participants = EVERYONE, **params: Any
    ) -> CommandResult:
        return self.perform("unmute", id, {"call_control_ids": call_control_ids, **params})

    def play(
        self, id: str, *, call_control_ids: Participants = EVERYONE, **params: Any
    ) -> CommandResult:
        return self.perform("play", id, {"call_control_ids": call_control_ids, **params})

    def stop(
        self, id: str, *, call_control_ids: Participants = EVERYONE, **params: Any
    ) -> CommandResult:
        return self.perform("stop", id, {"call_control_ids": call_control_ids, **params})

    def speak(
        self,
        id: str,
        *,
        payload: str,
        voice: str,
        call_control_ids: Participants = EVERYONE,
        **params: Any,
    ) -> CommandResult:
        body = {"payload": payload, "voice": voice, "call_control_ids": call_control_ids}
        return self.perform("speak", id, {**body, **params})

    def record_start(
        self, id: str, *, format: str | None = None, format_: str | None = None, **params: Any
    ) -> CommandResult:
        """`format_` is the same argument, as SDKs spell it where `format` is a reserved name."""
        if (format is None) == (format_ is None):
            raise InvalidRequestError("record_start: give format (or format_), once")
        return self.perform("record_start", id, {"format": format or format_, **params})

    def record_pause(self, id: str, **params: Any) -> CommandResult:
        return self.perform("record_pause", id, params)

    def record_resume(self, id: str, **params: Any) -> CommandResult:
        return self.perform("record_resume", id, params)

    def record_stop(self, id: str, **params: Any) -> CommandResult:
        return self.perform("record_stop", id, params)

    def update(
        self, id: str, *, call_control_id: str, supervisor_role: str, **params: Any
    ) -> CommandResult:
        body = {"call_control_id": call_control_id, "supervisor_role": supervisor_role}
        return self.perform("update", id, {**body, **params})


class Conferences:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.actions = ConferenceActions(transport)

    def list(
        self,
        *,
        filter: Mapping[str, Any] | None = None,
        page: Mapping[str, int] | None = None,
        region: str | None = None,
    ) -> Page[Conference]:
        return self._page("/conferences", Conference, filter, page, region)

    def list_participants(
        self,
        conference_id: str,
        *,
        filter: Mapping[str, Any] | None = None,
        page: Mapping[str, int] | None = None,
        region: str | None = None,
    ) -> Page[Participant]:
        path = f"/conferences/{path_segment(conference_id)}/participants"
        return self._page(path, Participant, filter, page, region)

    def create(self, *, call_control_id: str, name: str, **params: Any) -> Conference:
        body = build_body(
            p.CreateConferenceRequest, {"call_control_id": call_control_id, "name": name, **params}
        )
        return Conference.model_validate(
            _data(self._transport.request("POST", "/conferences", json=body))
        )

    def retrieve(self, id: str, *, region: str | None = None) -> Conference:
        query = {"region": _region(region)} if region else None
        data = self._transport.request("GET", f"/conferences/{path_segment(id)}", params=query)
        return Conference.model_validate(_data(data))

    def _page(
        self,
        path: str,
        model: type[Any],
        filter: Mapping[str, Any] | None,
        page: Mapping[str, int] | None,
        region: str | None,
    ) -> Page[Any]:
        requested = _page_params(page)

        def fetch(number: int) -> Page[Any]:
            query: dict[str, Any] = {"filter": filter, "page": {**requested, "number": number}}
            if region:
                query["region"] = _region(region)
            body = self._transport.request("GET", path, params=query)
            return parse_page(body, model, fetch, query["page"])

        return fetch(requested.get("number", 1))


class CallActions:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def perform(
        self, action: str, call_control_id: str, params: Mapping[str, Any]
    ) -> CommandResult:
        if action not in CALL_ACTIONS:
            raise InvalidRequestError(f"unknown call action {action!r}")
        body = build_body(CALL_ACTIONS[action], params)
        path = f"/calls/{path_segment(call_control_id)}/actions/{action}"
        return CommandResult.model_validate(_data(self._transport.request("POST", path, json=body)))

    def enqueue(self, call_control_id: str, *, queue_name: str, **params: Any) -> CommandResult:
        return self.perform("enqueue", call_control_id, {"queue_name": queue_name, **params})

    def leave_queue(self, call_control_id: str, **params: Any) -> CommandResult:
        return self.perform("leave_queue", call_control_id, params)


class Calls:
    def __init__(self, transport: Transport) -> None:
        self.actions = CallActions(transport)


class TelnyxClient:
    """One per process: it holds the connections (a pool per thread) and is safe to share
    between threads."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        """`on_response` sees every HTTP response (e.g. to log Telnyx's request id)."""
        self._transport = Transport(
            api_key,
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            on_response=on_response,
        )
        self.calls = Calls(self._transport)
        self.conferences = Conferences(self._transport)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> TelnyxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _data(body: Any) -> Any:
    return body.get("data", {}) if isinstance(body, dict) else {}


def _page_params(page: Mapping[str, int] | None) -> dict[str, int]:
    allowed = {"number", "size"}
    given = dict(page or {})
    if unknown := set(given) - allowed:
        raise InvalidRequestError(f"unknown page parameter(s): {', '.join(sorted(unknown))}")
    size = given.get("size")
    if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidRequestError(f"page size must be 1..{MAX_PAGE_SIZE}")
    if given.get("number", 1) < 1:
        raise InvalidRequestError("page number must be 1 or more")
    return given


def _region(region: str) -> str:
    if region not in get_args(p.Region):
        raise InvalidRequestError(f"unknown region {region!r}")
    return region


def _describe(exc: ValidationError) -> str:
    """A one-line summary of pydantic's errors that never echoes the input values."""
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(loc) for loc in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
