"""Every conference and call action is a worker task with the same retry behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from core.naming import QUEUE, call_task, conference_task
from sandbox.api.http import FakeTelnyxServer
from telnyx_api.client import CALL_ACTIONS, CONFERENCE_ACTIONS
from tests.telnyx_api.operations import OPERATIONS
from workers.config import celery_config

pytestmark = pytest.mark.usefixtures("worker")

ACTION_OPS = [op for op in OPERATIONS if op.name.startswith(("actions.", "calls."))]


@pytest.fixture(scope="module")
def producer(pipeline_redis_url: str) -> Iterator[Celery]:
    app = Celery("test-producer")
    app.conf.update(celery_config(pipeline_redis_url))
    yield app
    app.close()


def test_there_is_a_task_for_every_action() -> None:
    assert len(ACTION_OPS) == len(CONFERENCE_ACTIONS) + len(CALL_ACTIONS) == 16


@pytest.mark.parametrize("op", ACTION_OPS, ids=lambda op: op.name)
def test_each_action_task_sends_its_command(
    producer: Celery, api: FakeTelnyxServer, op: object
) -> None:
    # Given the task for one action, with the body the client test expects
    kind, action = (
        ("call", op.name.split(".")[1])
        if op.name.startswith("calls.")
        else ("conference", op.name.split(".")[1])
    )  # type: ignore[attr-defined]
    params = dict(op.body or {})  # type: ignore[attr-defined]
    if kind == "conference" and CONFERENCE_ACTIONS[action][1]:
        params.setdefault("call_control_ids", "everyone")
    target = op.path.split("/")[3]  # type: ignore[attr-defined]
    name = conference_task(action) if kind == "conference" else call_task(action)
    # When it is queued for the worker
    api.state.fail_next(1, 503, path_contains=op.path)  # type: ignore[attr-defined]
    producer.send_task(name, args=[target, params, {"event_id": "manual"}], queue=QUEUE)
    # Then the worker retries past the 503 and the API accepts exactly one command
    assert api.state.wait_for(lambda rs: any(r.status == 200 for r in rs), timeout=20)
    assert [r.status for r in api.state.requests()] == [503, 200]
    assert api.state.commands()[0].body == op.body  # type: ignore[attr-defined]


def test_waits_for_another_copys_claim_do_not_spend_the_retry_budget(
    producer: Celery, api: FakeTelnyxServer
) -> None:
    # Given a task that has waited ten times for another copy's claim (Celery counts each wait
    # as a retry: ten is the whole budget of TASK_MAX_RETRIES)
    context = {"event_id": "manual", "claim_waits": 10}
    # When its next attempt fails once
    api.state.fail_next(1, 503)
    producer.send_task(
        conference_task("record_start"),
        args=["conf-waited", {"format": "mp3", "channels": "single"}, context],
        queue=QUEUE,
        retries=10,
    )
    # Then it is retried, not given up on: the waits were not failed attempts
    assert api.state.wait_for(lambda rs: any(r.status == 200 for r in rs), timeout=20)
    assert [r.status for r in api.state.requests()] == [503, 200]
