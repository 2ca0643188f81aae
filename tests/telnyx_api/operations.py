"""Every operation of the client, with the exact request it must send. Shared by the unit
tests (httpx.MockTransport) and the tests against the local Telnyx-compatible server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telnyx_api.client import EVERYONE, TelnyxClient

CCID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
CONF = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@dataclass(frozen=True)
class Operation:
    name: str
    call: Callable[[TelnyxClient], Any]
    method: str
    path: str
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)


OPERATIONS = [
    Operation("calls.enqueue", lambda c: c.calls.actions.enqueue(CCID, queue_name="support", max_size=20, max_wait_time_secs=600, keep_after_hangup=True, client_state="YQ==", command_id="cmd-1"),
              "POST", f"/v2/calls/{CCID}/actions/enqueue",
              {"queue_name": "support", "max_size": 20, "max_wait_time_secs": 600, "keep_after_hangup": True, "client_state": "YQ==", "command_id": "cmd-1"}),
    Operation("calls.leave_queue", lambda c: c.calls.actions.leave_queue(CCID, command_id="cmd-2"),
              "POST", f"/v2/calls/{CCID}/actions/leave_queue", {"command_id": "cmd-2"}),
    Operation("conferences.list", lambda c: c.conferences.list(filter={"status": "in_progress", "name": "Sales"}, page={"number": 1, "size": 50}, region="US"),
              "GET", "/v2/conferences", None,
              {"filter[status]": "in_progress", "filter[name]": "Sales", "page[number]": "1", "page[size]": "50", "region": "US"}),
    Operation("conferences.create", lambda c: c.conferences.create(call_control_id=CCID, name="Sales", beep_enabled="on_enter", max_participants=10, start_conference_on_create=True, command_id="cmd-3"),
              "POST", "/v2/conferences",
              {"call_control_id": CCID, "name": "Sales", "beep_enabled": "on_enter", "max_participants": 10, "start_conference_on_create": True, "command_id": "cmd-3"}),
    Operation("conferences.retrieve", lambda c: c.conferences.retrieve(CONF, region="Europe"),
              "GET", f"/v2/conferences/{CONF}", None, {"region": "Europe"}),
    Operation("conferences.list_participants", lambda c: c.conferences.list_participants(CONF, filter={"muted": True}, page={"size": 10}),
              "GET", f"/v2/conferences/{CONF}/participants", None, {"filter[muted]": "true", "page[size]": "10", "page[number]": "1"}),
    Operation("actions.hold", lambda c: c.conferences.actions.hold(CONF, call_control_ids=[CCID], audio_url="https://example.com/hold.mp3"),
              "POST", f"/v2/conferences/{CONF}/actions/hold", {"call_control_ids": [CCID], "audio_url": "https://example.com/hold.mp3"}),
    Operation("actions.unhold", lambda c: c.conferences.actions.unhold(CONF, call_control_ids=[CCID]),
              "POST", f"/v2/conferences/{CONF}/actions/unhold", {"call_control_ids": [CCID]}),
    Operation("actions.join", lambda c: c.conferences.actions.join(CONF, call_control_id=CCID, supervisor_role="whisper", whisper_call_control_ids=["v3:agent"], mute=False, command_id="cmd-4"),
              "POST", f"/v2/conferences/{CONF}/actions/join",
              {"call_control_id": CCID, "supervisor_role": "whisper", "whisper_call_control_ids": ["v3:agent"], "mute": False, "command_id": "cmd-4"}),
    Operation("actions.leave", lambda c: c.conferences.actions.leave(CONF, call_control_id=CCID, beep_enabled="never", command_id="cmd-5"),
              "POST", f"/v2/conferences/{CONF}/actions/leave", {"call_control_id": CCID, "beep_enabled": "never", "command_id": "cmd-5"}),
    Operation("actions.mute", lambda c: c.conferences.actions.mute(CONF, call_control_ids=EVERYONE),
              "POST", f"/v2/conferences/{CONF}/actions/mute", {}),
    Operation("actions.unmute", lambda c: c.conferences.actions.unmute(CONF, call_control_ids=[CCID, "v3:other"]),
              "POST", f"/v2/conferences/{CONF}/actions/unmute", {"call_control_ids": [CCID, "v3:other"]}),
    Operation("actions.play", lambda c: c.conferences.actions.play(CONF, call_control_ids=EVERYONE, media_name="hold_music", loop="infinity"),
              "POST", f"/v2/conferences/{CONF}/actions/play", {"media_name": "hold_music", "loop": "infinity"}),
    Operation("actions.stop", lambda c: c.conferences.actions.stop(CONF, call_control_ids=[CCID]),
              "POST", f"/v2/conferences/{CONF}/actions/stop", {"call_control_ids": [CCID]}),
    Operation("actions.speak", lambda c: c.conferences.actions.speak(CONF, payload="Welcome", voice="female", language="en-GB", payload_type="text", call_control_ids=EVERYONE, command_id="cmd-6"),
              "POST", f"/v2/conferences/{CONF}/actions/speak",
              {"payload": "Welcome", "voice": "female", "language": "en-GB", "payload_type": "text", "command_id": "cmd-6"}),
    Operation("actions.record_start", lambda c: c.conferences.actions.record_start(CONF, format="wav", channels="dual", trim="trim-silence", custom_file_name="weekly", play_beep=True, command_id="cmd-7"),
              "POST", f"/v2/conferences/{CONF}/actions/record_start",
              {"format": "wav", "channels": "dual", "trim": "trim-silence", "custom_file_name": "weekly", "play_beep": True, "command_id": "cmd-7"}),
    Operation("actions.record_pause", lambda c: c.conferences.actions.record_pause(CONF, recording_id="rec-1", command_id="cmd-8"),
              "POST", f"/v2/conferences/{CONF}/actions/record_pause", {"recording_id": "rec-1", "command_id": "cmd-8"}),
    Operation("actions.record_resume", lambda c: c.conferences.actions.record_resume(CONF),
              "POST", f"/v2/conferences/{CONF}/actions/record_resume", {}),
    Operation("actions.record_stop", lambda c: c.conferences.actions.record_stop(CONF, client_state="YQ==", command_id="cmd-9"),
              "POST", f"/v2/conferences/{CONF}/actions/record_stop", {"client_state": "YQ==", "command_id": "cmd-9"}),
    Operation("actions.update", lambda c: c.conferences.actions.update(CONF, call_control_id=CCID, supervisor_role="barge", command_id="cmd-10"),
              "POST", f"/v2/conferences/{CONF}/actions/update", {"call_control_id": CCID, "supervisor_role": "barge", "command_id": "cmd-10"}),
]  # fmt: skip
