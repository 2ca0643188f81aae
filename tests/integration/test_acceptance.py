"""The whole deployment as an operator runs it: `honcho start` on the Procfile with two worker
processes, the example rules file, Flower and the metrics endpoint.

A scenario of signed events must produce exactly the actions the rules describe (no more, none
twice), Flower must list those tasks, and /metrics must count them.
"""

from __future__ import annotations

import re
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.events import call_control_id, client_state, encode, make_event
from sandbox.redis_server import RedisServer, free_port
from sandbox.signer import WebhookSigner
from testkit.announcements import Covered, announced
from testkit.harness import wait
from testkit.processes import ROOT, ManagedProcess
from tests.conftest import service_env

RULES = ROOT / "examples" / "rules.toml"
FLOWER_AUTH = ("ops", "acceptance-secret")
METRICS_TOKEN = "metrics-token-for-the-test"


@dataclass
class Deployment:
    web: str
    flower: str
    process: ManagedProcess

    def post(self, event: dict[str, Any], signer: WebhookSigner) -> httpx.Response:
        body = encode(event)
        return httpx.post(
            f"{self.web}/webhooks/telnyx", content=body, headers=signer.headers(body), timeout=10
        )

    def metrics(self) -> dict[str, float]:
        response = httpx.get(
            f"{self.web}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=5,
        )
        response.raise_for_status()
        values = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def flower_tasks(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.flower}/api/tasks", params={"limit": 1000}, auth=FLOWER_AUTH, timeout=5
        )
        response.raise_for_status()
        return dict(response.json())


def _two_free_ports_200_apart() -> int:
    """honcho gives the first process type PORT=base, the third base+200 (100 per type)."""
    for _ in range(50):
        base = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", base + 200))
            except OSError:
                continue
        return base
    raise RuntimeError("no pair of free ports found")


@pytest.fixture(scope="module")
def deployment(api_server: FakeTelnyxServer, signer: WebhookSigner) -> Iterator[Deployment]:
    base = _two_free_ports_200_apart()
    with RedisServer() as redis_server:
        env = {
            **service_env(redis_server.url, api_server, signer),
            "RULES_FILE": str(RULES),
            "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
            "METRICS_TOKEN": METRICS_TOKEN,
        }
        env.pop("PORT", None)
        honcho = str(Path(sys.executable).parent / "honcho")
        # web gets PORT=base, the two workers base+100 and base+101 (unused), flower base+200.
        process = ManagedProcess(
            "honcho",
            f"{honcho} start --no-colour --port {base} --concurrency worker=2 web worker flower",
            env,
        )
        deployment = Deployment(
            f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 200}", process
        )
        try:
            process.wait_until(
                lambda: process.output().count(" ready.") >= 2 and _up(deployment), 90
            )
            yield deployment
        finally:
            process.stop()


def _up(deployment: Deployment) -> bool:
    try:
        web = httpx.get(f"{deployment.web}/readyz", timeout=1).status_code == 200
        flower = httpx.get(f"{deployment.flower}/healthcheck", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
    return web and flower


def _actions_sent(metrics: dict[str, float]) -> dict[str, float]:
    found = {}
    for name, value in metrics.items():
        match = re.fullmatch(r'telnyx_actions_total\{action="([^"]+)",outcome="sent"\}', name)
        if match:
            found[match.group(1)] = value
    return found


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _summary(request: RecordedRequest) -> tuple[str, str, str]:
    body = request.body or {}
    detail = (
        body.get("payload")
        or body.get("queue_name")
        or body.get("supervisor_role")
        or body.get("audio_url")
        or ""
    )
    return (request.action or "", request.target or "", str(detail))


def test_the_procfile_with_two_workers_does_exactly_what_the_rules_say(
    deployment: Deployment, api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given Flower's task events flowing from both workers (it switches them on when it
    # connects, and again every few seconds); events no rule matches show that they do
    def both_workers_report() -> bool:
        assert deployment.post(make_event("conference.floor.changed"), signer).status_code == 200
        workers = {t.get("worker") for t in deployment.flower_tasks().values()}
        return len(workers - {None}) >= 2

    assert wait(both_workers_report, 60), "Flower never saw both workers"
    before = deployment.metrics()

    # When a scenario of signed events arrives: a conference with a named participant, an
    # unnamed one, a supervisor who whispers to an agent, a caller put on hold with music, a
    # leave, a redelivery, and two callers leaving the support queue (one timed out, one hung
    # up); once the conference's commands are out, its end by time limit
    conference = str(uuid.uuid4())
    agent, supervisor, caller, timed_out, hung_up = (call_control_id() for _ in range(5))
    ann = client_state({"name": "Ann Fairweather"})
    joined_ann = make_event(
        "conference.participant.joined", conference_id=conference, client_state=ann
    )
    scenario = [
        make_event("conference.created", conference_id=conference),
        joined_ann,
        make_event(
            "conference.participant.joined", conference_id=conference, call_control_id=agent
        ),
        make_event(
            "conference.participant.joined",
            conference_id=conference,
            call_control_id=supervisor,
            client_state=client_state(
                {"name": "Sue Quartermain", "role": "supervisor", "agent": agent}
            ),
        ),
        make_event(
            "conference.participant.joined",
            conference_id=conference,
            call_control_id=caller,
            client_state=client_state({"name": "Cal Ravensworth", "role": "caller"}),
        ),
        make_event("conference.participant.left", conference_id=conference, client_state=ann),
        joined_ann,  # a redelivery: same event id
        make_event("conference.floor.changed", conference_id=conference),
        make_event("call.left_queue", call_control_id=timed_out, queue="support", reason="timeout"),
        make_event("call.left_queue", call_control_id=hung_up, queue="support", reason="hangup"),
    ]
    for event in scenario:
        response = deployment.post(event, signer)
        assert response.status_code == 200, response.text
    targets = {conference, timed_out, hung_up}

    def commands() -> list[RecordedRequest]:
        return [r for r in api.state.commands() if r.target in targets]

    def spoken() -> list[Covered]:
        return announced(commands())

    # (4 joins and a leave, announced by name or by count: joins waiting at once are merged)
    assert wait(lambda: sum(c.total for c in spoken()) >= 5 and len(commands()) >= 6, 60)
    ended = make_event("conference.ended", conference_id=conference, reason="time_exceeded")
    assert deployment.post(ended, signer).status_code == 200
    scenario.append(ended)

    # Then, once every task of the scenario has finished...
    ids = {event["data"]["id"] for event in scenario}

    def scenario_tasks() -> list[dict[str, Any]]:
        return [
            t
            for t in deployment.flower_tasks().values()
            if any(i in str(t.get("args")) for i in ids | targets)
        ]

    def finished() -> bool:
        tasks = scenario_tasks()
        return (
            len([t for t in tasks if t["name"] == "telnyx.handle_event"]) == len(ids)
            and any(r.action == "record_stop" for r in commands())
            and all(t.get("state") == "SUCCESS" for t in tasks)
        )

    assert wait(finished, 60), sorted((t["name"], t.get("state")) for t in scenario_tasks())

    # ...the API received exactly the rules' actions, each once: the recording first and last,
    # everyone announced once in the order they came (Ann's leave after her join)
    sent = commands()
    in_conference = [r.action for r in sent if r.target == conference]
    assert in_conference[0] == "record_start"
    assert in_conference[-1] == "record_stop"
    others = sorted(_summary(r) for r in sent if r.action != "speak")
    assert others == sorted(
        [
            ("record_start", conference, ""),
            ("update", conference, "whisper"),
            ("hold", conference, "https://example.com/hold-music.mp3"),
            ("record_stop", conference, ""),
            ("enqueue", timed_out, "support-overflow"),
        ]
    )
    joins = [c for c in spoken() if c.kind == "joined"]
    assert [n for c in joins for n in c.named] == [
        "Ann Fairweather",
        "Sue Quartermain",
        "Cal Ravensworth",
    ]
    assert sum(c.total for c in joins) == 4  # the agent has no name: counted
    assert [c.named for c in spoken() if c.kind == "left"] == [["Ann Fairweather"]]
    assert [c.kind for c in spoken()][-1] == "left"
    [whisper] = [r for r in api.state.commands("update") if r.target == conference]
    assert whisper.body["call_control_id"] == supervisor
    assert whisper.body["whisper_call_control_ids"] == [agent]
    [hold] = [r for r in api.state.commands("hold") if r.target == conference]
    assert hold.body["call_control_ids"] == [caller]
    speaks = len([r for r in sent if r.action == "speak"])
    expected_actions = {
        "conference.record_start": 1,
        "conference.speak": speaks,
        "conference.update": 1,
        "conference.hold": 1,
        "conference.record_stop": 1,
        "call.enqueue": 1,
    }

    # Flower lists the event tasks (which send for an idle lane), the conference's lane tasks,
    # each command sent as an entry of its own, and the queue's action task, ids for arguments
    names = {t["name"] for t in scenario_tasks()}
    assert {"telnyx.handle_event", "call.enqueue", *expected_actions} <= names
    assert names <= {"telnyx.handle_event", "lane.drain", *expected_actions}
    names_said = ("Fairweather", "Quartermain", "Ravensworth")
    assert not [t for t in scenario_tasks() if any(n in str(t) for n in names_said)]

    # The metrics endpoint counts them: webhooks received, queued, the redelivery, and each
    # action sent, with the latency histogram observing every one
    after = deployment.metrics()
    change = _delta(after, before)
    assert change["telnyx_webhooks_received_total"] == len(scenario)
    assert change["telnyx_webhooks_enqueued_total"] == len(ids)
    assert change["telnyx_webhooks_duplicate_total"] == 1
    assert _actions_sent(change) == expected_actions
    merged = sum(v for k, v in change.items() if 'outcome="merged"' in k)
    assert merged == 4 + 1 - speaks
    assert change["telnyx_action_latency_seconds_count"] == sum(expected_actions.values())
    assert after["telnyx_queue_depth"] == 0
