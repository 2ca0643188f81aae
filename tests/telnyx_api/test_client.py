from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from telnyx_api import errors
from telnyx_api.client import EVERYONE, TelnyxClient
from telnyx_api.deadlines import leaving_by

Handler = Callable[[httpx.Request], httpx.Response]
OK = {"data": {"result": "ok"}}


def _client(handler: Handler) -> TelnyxClient:
    return TelnyxClient(
        "KEY", base_url="https://api.test/v2", transport=httpx.MockTransport(handler)
    )


def _recorder() -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    return seen, handler


def test_record_start_sends_the_documented_request() -> None:
    seen, handler = _recorder()
    result = _client(handler).conferences.actions.record_start(
        "conf-1", format="mp3", channels="single", command_id="cmd-1"
    )
    assert result.result == "ok"
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/v2/conferences/conf-1/actions/record_start"
    assert request.headers["authorization"] == "Bearer KEY"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "format": "mp3",
        "channels": "single",
        "command_id": "cmd-1",
    }


def test_speak_to_everyone_omits_call_control_ids() -> None:
    seen, handler = _recorder()
    _client(handler).conferences.actions.speak(
        "conf-1", payload="Hello", voice="female", language="en-US", call_control_ids=EVERYONE
    )
    assert json.loads(seen[0].content) == {
        "payload": "Hello",
        "voice": "female",
        "language": "en-US",
    }


def test_speak_to_some_sends_the_list() -> None:
    seen, handler = _recorder()
    _client(handler).conferences.actions.speak(
        "c", payload="Hi", voice="female", call_control_ids=["v3:a"]
    )
    assert json.loads(seen[0].content)["call_control_ids"] == ["v3:a"]


@pytest.mark.parametrize("ids", [[], None, "v3:a"])
def test_an_empty_or_missing_participant_list_is_refused_not_sent(ids: object) -> None:
    seen, handler = _recorder()
    with pytest.raises(errors.InvalidRequestError):
        _client(handler).conferences.actions.speak(
            "c", payload="Hi", voice="f", call_control_ids=ids
        )  # type: ignore[arg-type]
    assert seen == []


@pytest.mark.parametrize(
    "params",
    [
        {"format": "ogg"},
        {"format": "mp3", "channels": "triple"},
        {"format": "mp3", "custom_file_name": "x" * 41},
        {"format": "mp3", "colour": "blue"},
    ],
)
def test_invalid_bodies_are_refused_before_sending(params: dict[str, str]) -> None:
    seen, handler = _recorder()
    with pytest.raises(errors.InvalidRequestError):
        _client(handler).conferences.actions.perform("record_start", "c", params)
    assert seen == []


def test_speak_payload_is_bounded() -> None:
    _, handler = _recorder()
    with pytest.raises(errors.InvalidRequestError, match="payload"):
        _client(handler).conferences.actions.speak(
            "c", payload="x" * 3001, voice="f", call_control_ids=EVERYONE
        )


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("v3:MdI9-_x", "v3:MdI9-_x"),
        ("name with space", "name%20with%20space"),
        ("a/b", "a%2Fb"),
        ("a+b=c", "a+b=c"),
        ("a?b#c", "a%3Fb%23c"),
    ],
)
def test_path_ids_are_one_segment(raw: str, encoded: str) -> None:
    seen, handler = _recorder()
    _client(handler).conferences.actions.record_start(raw, format="mp3")
    assert seen[0].url.raw_path.decode() == f"/v2/conferences/{encoded}/actions/record_start"


def test_an_empty_id_is_refused() -> None:
    _, handler = _recorder()
    with pytest.raises(errors.InvalidRequestError):
        _client(handler).conferences.actions.record_start("", format="mp3")


def _failing(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


ERROR_BODY = {
    "errors": [
        {
            "code": "90019",
            "title": "Conference has already ended",
            "detail": "gone",
            "source": {"pointer": "/id"},
        }
    ]
}


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, errors.BadRequestError, False),
        (401, errors.AuthenticationError, False),
        (403, errors.PermissionDeniedError, False),
        (404, errors.NotFoundError, False),
        (408, errors.RequestTimeoutError, True),
        (409, errors.ConflictError, True),
        (422, errors.UnprocessableEntityError, False),
        (429, errors.RateLimitError, True),
        (500, errors.ServerError, True),
        (503, errors.ServerError, True),
        (418, errors.APIError, False),
    ],
)
def test_statuses_map_to_the_error_tree(
    status: int, cls: type[errors.APIError], retryable: bool
) -> None:
    with pytest.raises(cls) as caught:
        _client(
            _failing(status, ERROR_BODY, {"x-request-id": "req-1"})
        ).conferences.actions.record_start("c", format="mp3")
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.codes == ("90019",)
    assert error.errors[0].pointer == "/id"
    assert error.request_id == "req-1"
    assert "90019" in str(error)


def test_rate_limit_hints_are_read() -> None:
    handler = _failing(
        429,
        {"errors": [{"code": "10011", "title": "Too many requests"}]},
        {"retry-after": "7", "x-ratelimit-reset": "3"},
    )
    with pytest.raises(errors.RateLimitError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3")
    assert caught.value.retry_after == 7
    assert caught.value.ratelimit_reset == 3
    assert caught.value.retry_delay == 7


def test_a_non_json_error_body_still_maps() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    with pytest.raises(errors.ServerError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3")
    assert caught.value.errors == ()


def test_a_success_that_is_not_json_is_a_retryable_server_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="oops")

    with pytest.raises(errors.ServerError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3")
    assert caught.value.retryable
    assert caught.value.may_have_acted  # (a 2xx: Telnyx did it; only its answer is unreadable)


@pytest.mark.parametrize(
    ("status", "may_have_acted"),
    [(400, False), (408, False), (409, False), (422, False), (429, False), (503, False),
     (500, True), (502, True), (504, True)],
)  # fmt: skip
def test_only_a_4xx_or_503_says_telnyx_did_nothing(status: int, may_have_acted: bool) -> None:
    with pytest.raises(errors.APIError) as caught:
        _client(_failing(status, ERROR_BODY, {})).conferences.actions.record_start(
            "c", format="mp3"
        )
    assert caught.value.may_have_acted is may_have_acted


def _every_httpx_transport_error() -> list[type[httpx.TransportError]]:
    found: list[type[httpx.TransportError]] = []
    pending: list[type[httpx.TransportError]] = [httpx.TransportError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("exc_type", _every_httpx_transport_error(), ids=lambda c: c.__name__)
def test_no_httpx_transport_error_escapes_unmapped(exc_type: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise (
            exc_type("boom", request=request)
            if issubclass(exc_type, httpx.RequestError)
            else exc_type("boom")
        )

    with pytest.raises(errors.TransportError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3")
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, exc_type)
    expected = (
        errors.TimeoutError
        if issubclass(exc_type, httpx.TimeoutException)
        else errors.TransportError
    )
    assert isinstance(caught.value, expected)
    # (Only a connection never made, or never had from the pool, is sure not to have arrived.)
    unsent = exc_type in (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    assert caught.value.may_have_acted is not unsent


def test_the_api_key_is_never_in_an_error_message() -> None:
    client = TelnyxClient(
        "SECRET-KEY-123",
        base_url="https://api.test/v2",
        transport=httpx.MockTransport(_failing(401, ERROR_BODY)),
    )
    with pytest.raises(errors.AuthenticationError) as caught:
        client.conferences.actions.record_start("c", format="mp3")
    assert "SECRET-KEY-123" not in str(caught.value)
    assert "SECRET-KEY-123" not in repr(caught.value)


def test_each_request_carries_the_timeouts_and_only_its_own_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # A cookie set by the server is not sent back: no client state between commands.
        return httpx.Response(200, json=OK, headers={"set-cookie": "session=1; Path=/"})

    client = TelnyxClient(
        "KEY",
        base_url="https://api.test/v2/",
        timeout=httpx.Timeout(7.0, connect=3.0),
        transport=httpx.MockTransport(handler),
    )
    client.conferences.actions.record_start("c", format="mp3")
    client.conferences.actions.record_start("c", format="mp3")
    _, second = seen
    assert str(second.url) == "https://api.test/v2/conferences/c/actions/record_start"
    assert second.extensions["timeout"] == {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert second.headers["user-agent"].startswith("telnyx-conference-worker/")
    assert second.headers["accept"] == "application/json"
    assert "cookie" not in second.headers
    assert second.headers["content-length"] == str(len(second.content))


def test_a_redirect_is_an_error_and_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://elsewhere.test/"})

    with pytest.raises(errors.APIError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3")
    assert caught.value.status_code == 302
    assert len(seen) == 1  # the key never went to the other host


def test_a_malformed_base_url_is_refused_at_start_up() -> None:
    with pytest.raises(httpx.InvalidURL):
        TelnyxClient("KEY", base_url="https://[::1/v2")


def test_a_request_past_its_leaving_deadline_is_not_sent() -> None:
    seen, handler = _recorder()
    with leaving_by(time.monotonic() - 0.01), pytest.raises(errors.TransportError) as caught:
        _client(handler).conferences.actions.record_start("c", format="mp3", command_id="x")
    assert seen == []
    assert caught.value.may_have_acted is False  # (Telnyx never had it: it may be sent again)


def test_a_leaving_deadline_cuts_the_wait_connect_and_write_but_not_the_read() -> None:
    seen, handler = _recorder()
    with leaving_by(time.monotonic() + 2):
        _client(handler).conferences.actions.record_start("c", format="mp3", command_id="x")
    _client(handler).conferences.actions.record_start("c", format="mp3", command_id="y")
    cut, configured = (request.extensions["timeout"] for request in seen)
    assert all(0 < cut[k] <= 2 for k in ("connect", "write", "pool")), cut
    assert cut["read"] == configured["read"] == 10
    assert configured["connect"] == 5
