"""The request bodies the server accepts, as the API reference describes them: a JSON object,
each command's required fields present, enumerated fields among their values.
https://developers.telnyx.com/docs/api/v2/call-control/Conference-Commands
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.api.errors import error

_REGIONS = ("Australia", "Europe", "Middle East", "US")
_BEEP = ("always", "never", "on_enter", "on_exit")
_ROLE = ("barge", "monitor", "none", "whisper")

# (required fields, {field: allowed values})
Rules = tuple[tuple[str, ...], dict[str, tuple[str, ...]]]

CONFERENCE_ACTION_RULES: dict[str, Rules] = {
    "hold": ((), {"region": _REGIONS}),
    "unhold": (("call_control_ids",), {"region": _REGIONS}),
    "join": (("call_control_id",), {"beep_enabled": _BEEP, "supervisor_role": _ROLE}),
    "leave": (("call_control_id",), {"beep_enabled": _BEEP}),
    "mute": ((), {"region": _REGIONS}),
    "unmute": ((), {"region": _REGIONS}),
    "play": ((), {"region": _REGIONS}),
    "stop": ((), {"region": _REGIONS}),
    "speak": (("payload", "voice"), {"payload_type": ("text", "ssml")}),
    "record_start": (("format",), {"format": ("wav", "mp3"), "channels": ("single", "dual")}),
    "record_pause": ((), {}),
    "record_resume": ((), {}),
    "record_stop": ((), {}),
    "update": (("call_control_id", "supervisor_role"), {"supervisor_role": _ROLE}),
}
CALL_ACTION_RULES: dict[str, Rules] = {
    "enqueue": (("queue_name",), {}),
    "leave_queue": ((), {}),
}
CREATE_CONFERENCE_RULES: Rules = (("call_control_id", "name"), {"beep_enabled": _BEEP})


def parse_body(raw: bytes) -> tuple[Any, str]:
    """(the JSON object, "") or (None, why it is not one)."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return None, "body is not JSON"
    if not isinstance(body, dict):
        return None, "body must be a JSON object"
    return body, ""


def check(body: Any, rules: Rules) -> Any:
    """The 422 error body for the first field the rules refuse, or None."""
    required, enums = rules
    for name in required:
        if body.get(name) in (None, "", []):
            return error("10015", "Missing required parameter", f"{name} is required", f"/{name}")
    for name, allowed in enums.items():
        if name in body and body[name] not in allowed:
            return error(
                "10015", "Invalid parameter", f"{name} must be one of {allowed}", f"/{name}"
            )
    return None
