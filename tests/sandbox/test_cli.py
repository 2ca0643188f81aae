"""telnyx-sandbox against the Procfile's web process."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.cli import main
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner
from testkit.processes import start_web
from tests.conftest import service_env

SEED = bytes(range(7, 39))


@pytest.fixture(scope="module")
def url(redis_url: str, api_server: FakeTelnyxServer) -> Iterator[str]:
    signer = WebhookSigner(SEED)
    port = free_port()
    process = start_web(service_env(redis_url, api_server, signer), port)
    yield f"http://127.0.0.1:{port}/webhooks/telnyx"
    process.stop()


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_SANDBOX_SEED", base64.b64encode(SEED).decode())


def test_keygen_prints_a_matching_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--format", "env"]) == 0
    lines = dict(
        line.split("   #")[0].split("=", 1) for line in capsys.readouterr().out.splitlines()
    )
    seed = base64.b64decode(lines["TELNYX_SANDBOX_SEED"])
    assert WebhookSigner(seed).public_key == lines["TELNYX_PUBLIC_KEY"]


@pytest.mark.usefixtures("seeded")
def test_send_signs_and_delivers_any_event_type(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for event_type in ("conference.created", "call.enqueued", "conference.recording.saved"):
        assert main(["send", event_type, "--url", url]) == 0
        assert '"status":"queued"' in capsys.readouterr().out


@pytest.mark.usefixtures("seeded")
def test_a_reused_event_id_is_a_redelivery(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "send",
        "conference.participant.joined",
        "--url",
        url,
        "--event-id",
        "sandbox-e1",
        "--conference-id",
        "conf-redelivered",
        "--name",
        "Ann",
    ]
    # (A redelivery is the same event: the same id, in the same conference.)
    assert main(args) == 0
    assert main(args) == 0
    output = capsys.readouterr().out
    assert '"status":"queued"' in output
    assert '"status":"duplicate"' in output


@pytest.mark.usefixtures("seeded")
def test_scenario_sends_the_whole_conference(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "--url", url, "--end-after", "0"]) == 0
    output = capsys.readouterr().out
    assert output.count("-> 200") == 7
    # It says which conference it made up, and each event's id
    first, *deliveries = output.splitlines()
    assert re.fullmatch(r"conference [0-9a-f-]{36}", first)
    assert all(re.search(r" [0-9a-f-]{36}  -> 200", line) for line in deliveries)


@pytest.mark.usefixtures("seeded")
def test_scenario_and_send_reuse_a_conference_id(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "--url", url, "--end-after", "0", "--conference-id", "c-42"]) == 0
    assert capsys.readouterr().out.startswith("conference c-42\n")
    assert main(["send", "conference.ended", "--url", url, "--conference-id", "c-42"]) == 0
    assert capsys.readouterr().out.startswith("conference c-42\n")


@pytest.mark.usefixtures("seeded")
def test_send_waits_for_a_web_process_still_starting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    target = f"http://127.0.0.1:{port}/webhooks/telnyx"
    # Nothing listens, and it is not asked to wait: it fails at once, saying why
    assert main(["send", "conference.created", "--url", target, "--wait", "0"]) == 1
    assert "conference.created" in capsys.readouterr().err
    # A listener that comes up while it waits gets the event
    server = HTTPServer(("127.0.0.1", port), _Accepting)
    later = threading.Timer(0.5, server.serve_forever)  # the web process, booting
    later.start()
    try:
        assert main(["send", "conference.created", "--url", target, "--wait", "20"]) == 0
    finally:
        server.shutdown()
        server.server_close()
        later.join()
    assert "-> 200" in capsys.readouterr().out


class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_wrong_key_is_refused_by_the_service(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELNYX_SANDBOX_SEED", base64.b64encode(bytes(32)).decode())
    assert main(["send", "conference.created", "--url", url]) == 1
    assert "401" in capsys.readouterr().out


@pytest.mark.parametrize("seed", [None, "not base64!", base64.b64encode(b"short").decode()])
def test_a_missing_or_bad_seed_is_a_usage_error(
    seed: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seed is not None:
        monkeypatch.setenv("TELNYX_SANDBOX_SEED", seed)
    assert main(["send", "conference.created", "--url", "http://127.0.0.1:9/x"]) == 2


def test_api_passes_its_options_to_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["api", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out
    assert "--latency" in out
