"""Flower, started from the Procfile, shows our tasks with ids, behind basic auth."""

from __future__ import annotations

import ast
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from flask.testing import FlaskClient

from sandbox.api.http import FakeTelnyxServer
from sandbox.events import client_state, encode, make_event
from sandbox.redis_server import free_port
from testkit.harness import wait
from testkit.processes import ManagedProcess, procfile
from workers.flower import auth_problem

pytestmark = pytest.mark.usefixtures("worker")
AUTH = ("ops", "flower-secret-1")


@pytest.fixture(scope="module")
def flower(pipeline_redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": pipeline_redis_url,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
    }
    env.pop("TELNYX_API_KEY", None)  # the monitor runs without the API key
    process = ManagedProcess("flower", procfile()["flower"], env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    process.wait_until(up, 60)
    yield url
    process.stop()


class Operator:
    """What an operator reads in Flower, through its HTTP API."""

    def __init__(self, flower: str) -> None:
        self.flower = flower

    def tasks(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.flower}/api/tasks", params={"limit": 2000}, auth=AUTH, timeout=10
        )
        response.raise_for_status()
        return dict(response.json())

    def raw(self) -> str:
        """Every answer an operator's browser gets about tasks and workers, as text."""
        pages = [f"{self.flower}/api/tasks", f"{self.flower}/workers?json=1"]
        pages += [f"{self.flower}/api/task/info/{task_id}" for task_id in self.tasks()]
        return "".join(httpx.get(page, auth=AUTH, timeout=10).text for page in pages)

    def counters(self) -> Counter[str]:
        """The dashboard's counters, summed over the workers (task-failed, task-retried...)."""
        response = httpx.get(f"{self.flower}/workers", params={"json": 1}, auth=AUTH, timeout=10)
        total: Counter[str] = Counter()
        for worker in response.json()["data"]:
            total.update({k: v for k, v in worker.items() if k.startswith("task-")})
        return total

    def of(self, conference_id: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            t
            for t in self.tasks().values()
            if f"conference={conference_id}" in str(t.get("args"))
            and (name is None or t.get("name") == name)
        ]

    def one(self, conference_id: str, name: str, state: str, timeout: float = 30) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def there() -> bool:
            found[:] = [t for t in self.of(conference_id, name) if t.get("state") == state]
            return bool(found)

        assert wait(there, timeout), self.of(conference_id)
        return found[0]


@pytest.fixture
def operator(flower: str, client: FlaskClient, sign: Callable[..., dict[str, str]]) -> Operator:
    """Flower, once the workers' task events flow (Flower switches them on when it connects)."""
    seen = Operator(flower)

    def events_flowing() -> bool:
        body = encode(make_event("conference.ended", conference_id=str(uuid.uuid4())))
        client.post("/webhooks/telnyx", data=body, headers=sign(body))
        return any(t.get("name") == "telnyx.handle_event" for t in seen.tasks().values())

    assert wait(events_flowing, 30)
    return seen


Post = Callable[[dict[str, Any]], str]


@pytest.fixture
def post(client: FlaskClient, sign: Callable[..., dict[str, str]]) -> Post:
    def _post(event: dict[str, Any]) -> str:
        body = encode(event)
        assert client.post("/webhooks/telnyx", data=body, headers=sign(body)).status_code == 200
        return str(event["data"]["id"])

    return _post


SECRET_NAME = "Caller Whose Name Stays Out"
SECRET_NUMBER = "+15550100199"


def joined(conference_id: str, name: str = SECRET_NAME) -> dict[str, Any]:
    return make_event(
        "conference.participant.joined",
        conference_id=conference_id,
        client_state=client_state({"name": name, "phone": SECRET_NUMBER}),
        to=SECRET_NUMBER,
    )


def test_an_accepted_command_is_a_success_with_telnyxs_request_id(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    # Given a conference created, and the API accepting
    conference_id = str(uuid.uuid4())
    event_id = post(make_event("conference.created", conference_id=conference_id))
    # Then Flower shows its recording as a task of its own, a success
    task = operator.one(conference_id, "conference.record_start", "SUCCESS")
    assert task["args"] == f"conference={conference_id} events={event_id} names=0"
    result = ast.literal_eval(task["result"])
    [accepted] = api.state.commands("record_start")
    assert result["command_id"] == accepted.body["command_id"]
    assert result["request_id"]
    assert result["attempts"] == 1
    # ... and the event task says where its follow-up went
    [event_task] = operator.of(conference_id, "telnyx.handle_event")
    assert "conference.record_start: queued in its lane" in event_task["result"]


def test_a_refused_command_is_a_failure_with_telnyxs_answer_and_its_dead_letter(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    failed_before = operator.counters()["task-failed"]
    # Given Telnyx refusing the recording with 403
    conference_id = str(uuid.uuid4())
    api.state.fail_next(1, 403, code="10010", path_contains=f"{conference_id}/actions")
    post(make_event("conference.created", conference_id=conference_id))
    # Then Flower shows a failure with Telnyx's status and code, and how to replay it
    task = operator.one(conference_id, "conference.record_start", "FAILURE")
    assert "HTTP 403 [10010]" in task["exception"]
    assert "request id " in task["exception"]
    assert f"conference-worker dead-letters replay {task['uuid']}" in task["exception"]
    # ... and counts it as failed on the dashboard
    assert wait(lambda: operator.counters()["task-failed"] > failed_before, 10)


def test_a_retried_command_shows_its_retries_then_succeeds_with_the_attempts(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    retried_before = operator.counters()["task-retried"]
    # Given Telnyx answering two attempts 503 (each also the copy sent again at once after
    # it, as Telnyx's Command Retries page asks), then accepting
    conference_id = str(uuid.uuid4())
    api.state.fail_next(4, 503, path_contains=f"{conference_id}/actions")
    post(make_event("conference.created", conference_id=conference_id))
    # Then the one entry went through RETRY (with the reason) to SUCCESS, after 3 attempts
    task = operator.one(conference_id, "conference.record_start", "SUCCESS")
    assert ast.literal_eval(task["result"])["attempts"] == 3
    assert task["retries"] == 2
    assert "HTTP 503" in str(task["exception"])  # the last retry's reason, kept
    assert "next attempt in" in str(task["exception"])
    assert wait(lambda: operator.counters()["task-retried"] >= retried_before + 2, 10)


def test_a_hedged_command_says_so_and_which_request_answered(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    # Given Telnyx never answering the first record_start (the hang outlasts the timeout)
    conference_id = str(uuid.uuid4())
    hang, api.state.hang_seconds = api.state.hang_seconds, 12.0
    try:
        api.state.fail_next(1, 0, path_contains=f"{conference_id}/actions")
        post(make_event("conference.created", conference_id=conference_id))
        # Then its success says it was hedged, and the answer was the identical command's
        task = operator.one(conference_id, "conference.record_start", "SUCCESS")
    finally:
        api.state.hang_seconds = hang
    result = ast.literal_eval(task["result"])
    assert result["hedged"] == "hedge_won"
    assert result["attempts"] == 1
    assert result["request_id"]


def test_a_merged_announcement_lists_every_event_it_covers(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    # Given four joins arriving while the room hears the first announcement
    api.state.latency = 0.3
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    joins = [post(joined(conference_id, f"Person {n}")) for n in range(4)]

    # Then the speaks in Flower cover every join once, by event id, and count the names said
    def covered() -> list[str]:
        speaks = operator.of(conference_id, "conference.speak")
        done = [t for t in speaks if t.get("state") == "SUCCESS"]
        return [e for t in done for e in _arg(t, "events").split(",")]

    assert wait(lambda: sorted(covered()) == sorted(joins), 30), covered()
    merged = [t for t in operator.of(conference_id, "conference.speak") if "," in _arg(t, "events")]
    assert merged, "the joins were not merged"
    assert all(int(_arg(t, "names")) >= 1 for t in merged)


def test_an_announcement_after_the_end_is_shown_as_moot(
    operator: Operator, post: Post, api: FakeTelnyxServer, pipeline_redis: redis.Redis
) -> None:
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    operator.one(conference_id, "conference.record_start", "SUCCESS")
    post(make_event("conference.ended", conference_id=conference_id, reason="all_left"))
    # (Once the lane knows: two webhooks queued together may be taken by two threads at once,
    # and a join taken first is announced before the end is known.)
    assert wait(lambda: pipeline_redis.hget(f"tcw:lane:{conference_id}", "ended") == b"1", 10)
    join = post(joined(conference_id))
    task = operator.one(conference_id, "conference.speak", "REVOKED")
    assert _arg(task, "events") == join
    assert "moot: the conference has ended" in task["exception"]
    assert not [r for r in api.state.commands("speak") if r.target == conference_id]


def test_nobody_s_name_or_number_anywhere_in_flower(
    operator: Operator, post: Post, api: FakeTelnyxServer
) -> None:
    conference_id = str(uuid.uuid4())
    post(make_event("conference.created", conference_id=conference_id))
    post(joined(conference_id))
    operator.one(conference_id, "conference.speak", "SUCCESS")
    text = operator.raw()
    assert conference_id in text
    for secret in (SECRET_NAME, SECRET_NUMBER, "client_state", "has joined"):
        assert secret not in text


def _arg(task: dict[str, Any], name: str) -> str:
    """One field of a command's arguments as Flower shows them (conference=... events=...)."""
    fields = dict(part.split("=", 1) for part in str(task["args"]).split())
    return fields[name]


def test_flower_refuses_requests_without_credentials(flower: str) -> None:
    assert httpx.get(f"{flower}/api/tasks", timeout=5).status_code == 401
    assert (
        httpx.get(f"{flower}/api/tasks", auth=("ops", "wrong-password"), timeout=5).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ops:longenough", True),
        ("a:longenough,b:alsolonger", True),
        ("", False),
        ("ops", False),
        ("ops:short", False),
        (":longenough", False),
    ],
)
def test_basic_auth_is_required_and_checked(value: str, ok: bool) -> None:
    assert (auth_problem(value) is None) is ok


def test_flower_will_not_start_without_auth(pipeline_redis_url: str) -> None:
    env = {"PATH": os.environ["PATH"], "REDIS_URL": pipeline_redis_url, "PORT": str(free_port())}
    process = ManagedProcess("flower", procfile()["flower"], env)
    assert process.process.wait(timeout=30) == 2
    assert "FLOWER_BASIC_AUTH is required" in process.output()


def test_flower_started_before_any_worker_knows_our_tasks_and_warns_of_nothing(
    redis_url: str,
) -> None:
    # Given Flower started as a Procfile start does, with no worker up yet (database 0 has none)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
    }
    env.pop("TELNYX_API_KEY", None)
    process = ManagedProcess("flower", procfile()["flower"], env)
    try:
        # When it has asked the workers about themselves, and nobody answered
        process.wait_until(lambda: "no worker answered yet" in process.output(), 60)
        output = process.output()
    finally:
        process.stop()
    # Then it says so plainly, lists the project's tasks, and warns of nothing
    assert "Registered tasks" in output
    for name in (
        "telnyx.handle_event",
        "lane.drain",
        "conference.record_start",
        "conference.speak",
    ):
        assert name in output
    assert "Inspect method" not in output
    assert "WARNING" not in output
    assert "ERROR" not in output
