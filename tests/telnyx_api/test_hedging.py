"""Hedged commands against the local Telnyx-compatible server over real HTTP: the identical
command on another connection once the first is late, the first answer winning."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import trustme

from sandbox.api.http import FakeTelnyxServer
from telnyx_api import errors
from telnyx_api.client import TelnyxClient
from telnyx_api.hedging import HedgeReport, Hedging, hedging_as
from telnyx_api.transport import ThreadPools, Transport
from tests.conftest import API_KEY

AFTER = 0.2


@pytest.fixture
def client(api: FakeTelnyxServer) -> Iterator[TelnyxClient]:
    api.state.hang_seconds = 5.0
    with TelnyxClient(API_KEY, base_url=api.base_url, timeout=3) as client:
        yield client


def _hedging(
    reports: list[HedgeReport], clearance: Callable[[], float | None] = lambda: 0.0
) -> Hedging:
    return Hedging(after=AFTER, clearance=clearance, on_end=reports.append)


def test_a_hedge_wins_over_a_hang(api: FakeTelnyxServer, client: TelnyxClient) -> None:
    # Given a first request that Telnyx never answers
    api.state.fail_next(1, 0, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    started = time.monotonic()
    with hedging_as(_hedging(reports)):
        result = client.conferences.actions.record_start("c", format="mp3", command_id="h1")
    # Then the identical command went out again and its answer is the command's
    assert result.result == "ok"
    first, hedge = api.state.requests()
    assert (first.status, hedge.status) == (0, 200)
    assert first.body == hedge.body
    assert [r.outcome for r in reports] == ["hedge_won"]
    assert reports[0].hedge_request_id is not None
    # long before the 3 s timeout the first request would have waited out
    assert time.monotonic() - started < 2.5


def test_the_first_answer_wins_over_a_slow_hedge(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    # Given a first request acted on at once but answered 0.6 s late, its hedge 2.5 s late
    api.state.fail_next(1, slow=0.6, path_contains="/actions/record_start")
    api.state.fail_next(1, slow=2.5, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    with hedging_as(_hedging(reports)):
        result = client.conferences.actions.record_start("c", format="mp3", command_id="h2")
    assert result.result == "ok"
    # Then the first answer was taken (the hedge's, still to come, is dropped), and Telnyx
    # acted once: the hedge was a repeat of a command_id it had seen
    [report] = reports
    assert report.outcome == "first_won"
    assert report.first_request_id is not None
    assert report.waited < 2.0
    assert [r.duplicate for r in api.state.requests()] == [False, True]


def test_a_command_without_a_command_id_is_never_hedged(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    # Given a mute (no command_id: Telnyx would act on a repeat) answered 0.6 s late
    api.state.fail_next(1, slow=0.6, path_contains="/actions/mute")
    reports: list[HedgeReport] = []
    with hedging_as(_hedging(reports)):
        client.conferences.actions.mute("c", call_control_ids=["v3:a"])
    # Then it was sent once
    assert len(api.state.requests()) == 1
    assert reports == []


def test_a_hedge_the_pace_refuses_waits_its_turn(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    # Given a first request that is never answered, and a pace that says "not yet" once
    api.state.fail_next(1, 0, path_contains="/actions/record_start")
    asked: list[float] = []

    def clearance() -> float | None:
        asked.append(time.time())
        return 0.3 if len(asked) == 1 else 0.0

    reports: list[HedgeReport] = []
    with hedging_as(_hedging(reports, clearance)):
        client.conferences.actions.record_start("c", format="mp3", command_id="h3")
    # Then the hedge went out only once the pace let it, after asking again
    _, hedge = api.state.requests()
    assert len(asked) == 2
    assert hedge.received_at >= asked[1] > asked[0]
    assert [r.outcome for r in reports] == ["hedge_won"]


def test_a_hedge_past_the_time_it_may_go_in_is_never_sent(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    api.state.fail_next(1, slow=0.6, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    with hedging_as(_hedging(reports, clearance=lambda: None)):
        client.conferences.actions.record_start("c", format="mp3", command_id="h4")
    assert len(api.state.requests()) == 1
    assert [r.outcome for r in reports] == ["not_sent"]


def test_both_unanswered_is_a_timeout_that_may_have_acted(api: FakeTelnyxServer) -> None:
    api.state.hang_seconds = 3.0
    api.state.fail_next(2, 0, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=1) as client,
        hedging_as(_hedging(reports)),
        pytest.raises(errors.TimeoutError) as caught,
    ):
        client.conferences.actions.record_start("c", format="mp3", command_id="h5")
    assert caught.value.may_have_acted
    assert len(api.state.requests()) == 2
    assert [r.outcome for r in reports] == ["both_failed"]


def test_a_fast_answer_costs_no_hedge_thread(api: FakeTelnyxServer) -> None:
    before = set(threading.enumerate())
    reports: list[HedgeReport] = []
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=3) as client,
        hedging_as(_hedging(reports)),
    ):
        for n in range(20):
            client.conferences.actions.record_start("c", format="mp3", command_id=f"f{n}")
    assert reports == []
    assert len(api.state.requests()) == 20
    started = set(threading.enumerate()) - before
    assert not [t for t in started if t.name.startswith("telnyx-hedge")]


@pytest.mark.parametrize("status", [503, 429, 422])
def test_a_refusal_that_answers_first_still_may_have_acted_once_a_hedge_went_out(
    api: FakeTelnyxServer, status: int
) -> None:
    # Given every answer 0.3 s late, the first a refusal: the hedge went out at 0.1 s
    api.state.latency = 0.3
    api.state.fail_next(1, status, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    hedging = Hedging(after=0.1, clearance=lambda: 0.0, on_end=reports.append)
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=3) as client,
        hedging_as(hedging),
        pytest.raises(errors.APIError) as caught,
    ):
        client.conferences.actions.record_start("c", format="mp3", command_id="r1")
    # Then the refusal is the answer, but it speaks for one of two requests: the hedge, which
    # Telnyx acted on, makes the outcome unknown (the lane must not forget this send)
    assert caught.value.status_code == status
    assert caught.value.may_have_acted
    assert [r.outcome for r in reports] == ["first_won"]
    assert api.state.wait_for(lambda rs: any(r.status == 200 for r in rs), timeout=5)


def test_no_hedge_waits_for_a_thread_when_every_hedge_thread_is_busy(
    api: FakeTelnyxServer, client: TelnyxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no hedge thread free
    transport = client._transport  # (the client's hedge threads)
    monkeypatch.setattr(transport._hedges, "take", lambda: False)
    api.state.fail_next(1, slow=0.5, path_contains="/actions/record_start")
    reports: list[HedgeReport] = []
    with hedging_as(_hedging(reports)):
        client.conferences.actions.record_start("c", format="mp3", command_id="b1")
    # Then none is queued: the command waits for its own answer
    assert len(api.state.requests()) == 1
    assert [r.outcome for r in reports] == ["not_sent"]


class _SlowAnswers(BaseHTTPRequestHandler):
    """Every command answered 1.5 s late, over TLS."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append(time.monotonic())
        time.sleep(1.5)  # (the server's answer comes late: what the test is about)
        body = json.dumps({"data": {"result": "ok"}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_fresh_tls_connection_is_hedged_too() -> None:
    # Given a TLS 1.3 server, whose session ticket follows the handshake: the socket is
    # readable before any answer comes
    ca = trustme.CA()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowAnswers)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport = Transport(
        "KEY", base_url=f"https://localhost:{server.server_address[1]}/v2", timeout=5,
        transport=ThreadPools(tls=client_tls),
    )  # fmt: skip
    try:
        # When the first command on a new connection is late
        reports: list[HedgeReport] = []
        with hedging_as(Hedging(after=0.2, clearance=lambda: 0.0, on_end=reports.append)):
            transport.request("POST", "/conferences/c/actions/record_start",
                              json={"command_id": "tls-1"})  # fmt: skip
        # Then it was hedged, the ticket taken for no answer
        assert [r.outcome for r in reports] == ["first_won"]
        assert len(_SlowAnswers.seen) == 2
    finally:
        transport.close()
        server.shutdown()
        server.server_close()
