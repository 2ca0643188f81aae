"""The operator CLI against the local Telnyx-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.api.http import FakeTelnyxServer
from telnyx_api.cli import build_parser, main
from tests.conftest import API_KEY
from tests.telnyx_api.operations import CCID, CONF, OPERATIONS

# CLI arguments for each operation of tests/telnyx_api/operations.py, sending the same request.
CLI_ARGS = {
    "calls.enqueue": ["calls", "enqueue", CCID, "--queue", "support", "--max-size", "20", "--max-wait-time-secs", "600", "--keep-after-hangup", "--client-state", "YQ==", "--command-id", "cmd-1"],
    "calls.leave_queue": ["calls", "leave_queue", CCID, "--command-id", "cmd-2"],
    "conferences.list": ["conferences", "list", "--status", "in_progress", "--name", "Sales", "--page-number", "1", "--page-size", "50", "--region", "US"],
    "conferences.create": ["conferences", "create", "--call-control-id", CCID, "--name", "Sales", "--beep-enabled", "on_enter", "--max-participants", "10", "--start-conference-on-create", "--command-id", "cmd-3"],
    "conferences.retrieve": ["conferences", "retrieve", CONF, "--region", "Europe"],
    "conferences.list_participants": ["conferences", "participants", CONF, "--muted", "--page-size", "10"],
    "actions.hold": ["conferences", "hold", CONF, "--call-control-ids", CCID, "--audio-url", "https://example.com/hold.mp3"],
    "actions.unhold": ["conferences", "unhold", CONF, "--call-control-ids", CCID],
    "actions.join": ["conferences", "join", CONF, "--call-control-id", CCID, "--supervisor-role", "whisper", "--whisper-call-control-ids", "v3:agent", "--no-mute", "--command-id", "cmd-4"],
    "actions.leave": ["conferences", "leave", CONF, "--call-control-id", CCID, "--beep-enabled", "never", "--command-id", "cmd-5"],
    "actions.mute": ["conferences", "mute", CONF, "--everyone"],
    "actions.unmute": ["conferences", "unmute", CONF, "--call-control-ids", CCID, "v3:other"],
    "actions.play": ["conferences", "play", CONF, "--everyone", "--media-name", "hold_music", "--loop", "infinity"],
    "actions.stop": ["conferences", "stop", CONF, "--call-control-ids", CCID],
    "actions.speak": ["conferences", "speak", CONF, "--payload", "Welcome", "--voice", "female", "--language", "en-GB", "--payload-type", "text", "--everyone", "--command-id", "cmd-6"],
    "actions.record_start": ["conferences", "record_start", CONF, "--format", "wav", "--channels", "dual", "--trim", "trim-silence", "--custom-file-name", "weekly", "--play-beep", "--command-id", "cmd-7"],
    "actions.record_pause": ["conferences", "record_pause", CONF, "--recording-id", "rec-1", "--command-id", "cmd-8"],
    "actions.record_resume": ["conferences", "record_resume", CONF],
    "actions.record_stop": ["conferences", "record_stop", CONF, "--client-state", "YQ==", "--command-id", "cmd-9"],
    "actions.update": ["conferences", "update", CONF, "--call-control-id", CCID, "--supervisor-role", "barge", "--command-id", "cmd-10"],
}  # fmt: skip


@pytest.fixture
def env(api: FakeTelnyxServer, monkeypatch: pytest.MonkeyPatch) -> FakeTelnyxServer:
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_API_BASE_URL", api.base_url)
    api.state.add_conference("Existing", id=CONF)
    return api


def test_every_operation_has_a_cli_command() -> None:
    assert sorted(CLI_ARGS) == sorted(op.name for op in OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_cli_sends_the_same_request_as_python(
    op: object, env: FakeTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(CLI_ARGS[op.name]) == 0  # type: ignore[attr-defined]
    [request] = env.state.requests()
    assert request.method == op.method  # type: ignore[attr-defined]
    assert request.path == op.path  # type: ignore[attr-defined]
    if op.method == "POST":  # type: ignore[attr-defined]
        assert request.body == op.body  # type: ignore[attr-defined]
    else:
        assert {k: v[-1] for k, v in request.query.items()} == op.query  # type: ignore[attr-defined]
    json.loads(capsys.readouterr().out)


def test_list_prints_json_and_walks_all_pages(
    env: FakeTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(4):
        env.state.add_conference(f"room-{i}")
    assert (
        main(["conferences", "list", "--status", "in_progress", "--page-size", "2", "--all"]) == 0
    )
    names = [c["name"] for c in json.loads(capsys.readouterr().out)]
    assert sorted(names) == ["Existing", "room-0", "room-1", "room-2", "room-3"]


def test_a_telnyx_error_exits_1_with_the_error(
    env: FakeTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    env.state.end_conference(CONF)
    assert main(["conferences", "record_start", CONF, "--format", "mp3"]) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["status"] == 422
    assert error["errors"][0]["code"] == "90019"
    assert error["retryable"] is False


def test_a_transport_error_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv("TELNYX_API_BASE_URL", "http://127.0.0.1:9/v2")
    assert main(["conferences", "retrieve", CONF]) == 1
    assert json.loads(capsys.readouterr().err)["error"]["retryable"] is True


def test_a_missing_api_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["conferences", "list"])
    assert caught.value.code == 2
    assert "TELNYX_API_KEY is required" in capsys.readouterr().err


def test_participant_actions_reach_everyone_unless_told_whom(
    env: FakeTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    speak = ["conferences", "speak", CONF, "--payload", "hi", "--voice", "female"]
    # Neither option, or --everyone: every participant (no call_control_ids on the wire)
    assert main(speak) == 0
    assert main([*speak, "--everyone"]) == 0
    # --call-control-ids: those only
    assert main([*speak, "--call-control-ids", "v3:a", "v3:b"]) == 0
    bodies = [r.body for r in env.state.requests()]
    assert ["call_control_ids" in b for b in bodies] == [False, False, True]
    assert bodies[2]["call_control_ids"] == ["v3:a", "v3:b"]
    # Both at once is a usage error
    with pytest.raises(SystemExit) as caught:
        main([*speak, "--everyone", "--call-control-ids", "v3:a"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_body_the_model_refuses_exits_2(
    env: FakeTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["conferences", "record_start", CONF, "--format", "mp3", "--custom-file-name", "x" * 41]
        )
        == 2
    )
    assert "custom_file_name" in capsys.readouterr().err
    assert env.state.requests() == []


def _subcommands() -> list[list[str]]:
    parser = build_parser()
    commands: list[list[str]] = [[]]
    groups = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for group, sub in groups.items():
        commands.append([group])
        for name in sub._subparsers._group_actions[0].choices:
            commands.append([group, name])
    return commands


@pytest.mark.parametrize("command", _subcommands(), ids=lambda c: " ".join(c) or "top")
def test_help_everywhere(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert "usage: telnyx-conference" in capsys.readouterr().out


def test_the_installed_command_runs(env: FakeTelnyxServer) -> None:
    script = Path(sys.executable).parent / "telnyx-conference"
    result = subprocess.run(
        [str(script), "conferences", "speak", CONF, "--payload", "Hi", "--voice", "female", "--everyone"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"result": "ok"}
