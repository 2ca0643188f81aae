"""The local Telnyx-compatible server behaves like the API where our tests rely on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from telnyx_api import errors
from telnyx_api.client import TelnyxClient
from tests.conftest import API_KEY


@pytest.fixture
def client(api: FakeTelnyxServer) -> Iterator[TelnyxClient]:
    with TelnyxClient(API_KEY, base_url=api.base_url, timeout=2) as client:
        yield client


def test_a_wrong_key_is_401(api: FakeTelnyxServer) -> None:
    with (
        TelnyxClient("wrong", base_url=api.base_url) as client,
        pytest.raises(errors.AuthenticationError),
    ):
        client.conferences.actions.record_start("c", format="mp3")
    assert api.state.commands() == []
    assert [r.status for r in api.state.requests()] == [401]


def test_a_missing_required_field_is_422_with_a_pointer(api: FakeTelnyxServer) -> None:
    response = httpx.post(
        f"{api.base_url}/conferences/c/actions/speak",
        json={"voice": "female"},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": "/payload"}


def test_an_ended_conference_is_422_90019(api: FakeTelnyxServer, client: TelnyxClient) -> None:
    api.state.end_conference("done")
    with pytest.raises(errors.UnprocessableEntityError) as caught:
        client.conferences.actions.record_start("done", format="mp3")
    assert caught.value.codes == ("90019",)


def test_injected_faults_apply_in_order_then_clear(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    api.state.fail_next(1, 503)
    api.state.fail_next(1, 429, code="10011", headers={"x-ratelimit-reset": "2"})
    with pytest.raises(errors.ServerError):
        client.conferences.actions.record_start("c", format="mp3")
    with pytest.raises(errors.RateLimitError) as caught:
        client.conferences.actions.record_start("c", format="mp3")
    assert caught.value.ratelimit_reset == 2
    assert client.conferences.actions.record_start("c", format="mp3").result == "ok"


def test_a_hang_is_a_client_timeout(api: FakeTelnyxServer) -> None:
    api.state.hang_seconds = 1.0
    api.state.fail_next(1, 0)
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=0.2) as client,
        pytest.raises(errors.TimeoutError),
    ):
        client.conferences.actions.record_start("c", format="mp3")


def test_a_repeated_command_id_is_marked_duplicate(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    client.conferences.actions.record_start("c", format="mp3", command_id="same")
    client.conferences.actions.record_start("c", format="mp3", command_id="same")
    client.conferences.actions.record_start("other", format="mp3", command_id="same")
    assert [r.duplicate for r in api.state.commands()] == [False, True, False]


def test_requests_are_recorded_with_decoded_targets(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    client.conferences.actions.record_start("name with/slash", format="wav")
    [request] = api.state.commands()
    assert request.action == "record_start"
    assert request.target == "name with/slash"
    assert request.body == {"format": "wav"}


def test_the_fault_controls_show_what_is_in_force(api: FakeTelnyxServer) -> None:
    faults = api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults"
    assert httpx.get(faults).json() == {
        "latency": 0.0,
        "hang_seconds": api.state.hang_seconds,
        "rate_limit": None,
        "rate_window": "fixed",
        "reset_rounding": "up",
        "retry_after_on_429": True,
        "outage": False,
        "rates": {
            "server_error": 0.0,
            "rate_limited": 0.0,
            "timeout": 0.0,
            "slow": 0.0,
            "slow_seconds": 8.0,
            "retry_after": None,
            "seed": None,
        },
        "fail_next": [],
    }
    body = {
        "latency": 0.01,
        "rates": {"server_error": 0.5, "seed": 3},
        "fail_next": [{"count": 2, "status": 422, "code": "90019", "path_contains": "speak"}],
    }
    answer = httpx.post(faults, json=body)
    assert answer.status_code == 200
    shown = httpx.get(faults).json()
    assert shown == answer.json()
    assert (shown["latency"], shown["rates"]["server_error"]) == (0.01, 0.5)
    assert [f["code"] for f in shown["fail_next"]] == ["90019", "90019"]
    assert httpx.post(faults.replace("faults", "reset")).status_code == 200
    assert httpx.get(faults).json()["fail_next"] == []
    assert httpx.get(faults.replace("faults", "reset")).status_code == 405


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([1], "must be a JSON object"),
        ({"fail": []}, "unknown key(s) fail"),
        ({"latency": "slow"}, "latency must be a number"),
        ({"rates": {"server_errors": 0.1}}, "rates must be an object with keys among"),
        ({"rates": {"timeout": 2}}, "rates.timeout must be a fraction"),
        ({"fail_next": [{"status": "503"}]}, "status and count must be whole numbers"),
        ({"fail_next": [{"colour": "red"}]}, "each fail_next entry"),
        ({"rate_limit": 0}, "rate_limit must be a whole number"),
        ({"outage": "yes"}, "outage must be true or false"),
        ({"fail_next": [{"slow": -1}]}, "fail_next.0.slow must be a number of seconds"),
        ({"rates": {"slow_seconds": "8"}}, "rates.slow_seconds must be a number of seconds"),
    ],
)
def test_a_fault_body_it_cannot_apply_is_400_with_the_reason(
    api: FakeTelnyxServer, body: object, reason: str
) -> None:
    faults = api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults"
    answer = httpx.post(faults, json=body)
    assert answer.status_code == 400
    assert reason in answer.json()["errors"][0]["detail"]
    assert httpx.get(faults).json()["fail_next"] == []


def test_a_rate_limit_counts_commands_a_second_and_says_what_is_left(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    faults = api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults"
    assert httpx.post(faults, json={"rate_limit": 1000}).json()["rate_limit"] == 1000
    client.conferences.actions.record_start("c", format="mp3")
    [first] = api.state.requests()
    # (the headers ride on every answer: read them from a raw call)
    answer = httpx.post(
        f"{api.base_url}/conferences/c/actions/record_start",
        json={"format": "mp3"},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert answer.headers["x-ratelimit-limit"] == "1000"
    assert int(answer.headers["x-ratelimit-remaining"]) < 1000
    # (whole seconds: whatever is left of the window, rounded up)
    assert answer.headers["x-ratelimit-reset"] == "1"
    assert first.status == 200
    # Past the limit within one second: 429, code 10011, with the same headers
    api.state.rate_limit = 1
    statuses = []
    for _ in range(3):
        statuses.append(
            httpx.post(
                f"{api.base_url}/conferences/c/actions/record_start",
                json={"format": "mp3"},
                headers={"authorization": f"Bearer {API_KEY}"},
            )
        )
    assert 429 in [r.status_code for r in statuses]
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.json()["errors"][0]["code"] == "10011"
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_an_outage_answers_every_command_503_until_it_ends(
    api: FakeTelnyxServer, client: TelnyxClient
) -> None:
    faults = api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults"
    assert httpx.post(faults, json={"outage": True}).json()["outage"] is True
    with pytest.raises(errors.APIError) as caught:
        client.conferences.actions.record_start("c", format="mp3")
    assert caught.value.status_code == 503
    httpx.post(faults, json={"outage": False})
    client.conferences.actions.record_start("c", format="mp3")
    assert [r.status for r in api.state.requests()] == [503, 200]


def test_a_slow_fault_acts_at_once_and_answers_late(api: FakeTelnyxServer) -> None:
    # Given a command acted on at once and answered half a second late
    api.state.fail_next(1, slow=0.5, path_contains="/actions/record_start")
    # Then a client that waits less than that has no answer
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=0.2) as impatient,
        pytest.raises(errors.TimeoutError),
    ):
        impatient.conferences.actions.record_start("c", format="mp3", command_id="x1")
    # though Telnyx acted on it (recorded as accepted), and a repeat of it is a duplicate
    [acted] = api.state.requests()
    assert acted.status == 200
    assert not acted.duplicate
    with TelnyxClient(API_KEY, base_url=api.base_url, timeout=2) as patient:
        patient.conferences.actions.record_start("c", format="mp3", command_id="x1")
    assert api.state.requests()[-1].duplicate


def test_random_slow_answers_are_drawn_at_their_rate(api: FakeTelnyxServer) -> None:
    response = httpx.post(
        api.base_url.rsplit("/", 1)[0] + "/_sandbox/faults",
        json={"rates": {"slow": 1.0, "slow_seconds": 0.3}},
    )
    assert response.json()["rates"]["slow"] == 1.0
    with (
        TelnyxClient(API_KEY, base_url=api.base_url, timeout=0.1) as impatient,
        pytest.raises(errors.TimeoutError),
    ):
        impatient.conferences.actions.record_start("c", format="mp3")
    assert [r.status for r in api.state.requests()] == [200]
