"""The whole pipeline on one machine, with nothing installed but Python.

Starts a private Redis, the local Telnyx-compatible API, the Procfile's web and worker
processes, then plays a signed conference scenario against the web process and prints each
webhook and each command Telnyx received. Exits 0 when exactly the expected commands arrived.

    python -m sandbox.demo
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.api_server import FakeTelnyxServer, RecordedRequest
from sandbox.events import client_state, encode, make_event
from sandbox.processes import ManagedProcess, start_web, start_worker
from sandbox.redis_server import RedisServer, free_port
from sandbox.signer import WebhookSigner


@dataclass(frozen=True)
class Expected:
    action: str
    body: dict[str, Any]


def scenario(conference_id: str) -> tuple[list[dict[str, Any]], list[Expected]]:
    """A conference is created, three named participants join, one leaves, it is recorded,
    and it ends."""
    joins = [
        ("Alice Martin", client_state({"name": "Alice Martin", "crm_id": 1042})),
        ("Bob Okafor", client_state({"name": "Bob Okafor"})),
        ("Chandra Rao", client_state("Chandra Rao")),
    ]
    events = [make_event("conference.created", conference_id=conference_id)]
    events += [
        make_event("conference.participant.joined", conference_id=conference_id, client_state=state)
        for _, state in joins
    ]
    events += [
        make_event("conference.participant.left", conference_id=conference_id),
        make_event(
            "conference.recording.saved",
            conference_id=conference_id,
            recording_id=str(uuid.uuid4()),
            format="mp3",
            channels="single",
            recording_urls={"mp3": "https://example.com/recording.mp3"},
        ),
        make_event("conference.ended", conference_id=conference_id, reason="all_left"),
    ]
    expected = [Expected("record_start", {"format": "mp3", "channels": "single"})]
    expected += [
        Expected(
            "speak",
            {
                "payload": f"{name} has joined the conference.",
                "voice": "female",
                "language": "en-US",
            },
        )
        for name, _ in joins
    ]
    return events, expected


def matches(request: RecordedRequest, expected: Expected, conference_id: str) -> bool:
    body = request.body or {}
    return (
        request.action == expected.action
        and request.target == conference_id
        and all(body.get(k) == v for k, v in expected.body.items())
    )


def run(timeout: float) -> int:
    api_key = "demo-" + secrets.token_hex(8)
    signer = WebhookSigner()
    conference_id = str(uuid.uuid4())
    events, expected = scenario(conference_id)
    processes: list[ManagedProcess] = []
    with RedisServer() as redis_server, FakeTelnyxServer(api_key) as api:
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "TELNYX_API_KEY": api_key,
            "TELNYX_API_BASE_URL": api.base_url,
            "TELNYX_PUBLIC_KEY": signer.public_key,
            "WEB_CONCURRENCY": "1",
            "WORKER_CONCURRENCY": "8",
        }
        try:
            print(f"redis        {redis_server.url}")
            print(f"telnyx api   {api.base_url} (local)")
            processes.append(start_worker(env))
            print(f"worker       pid {processes[-1].pid}")
            port = free_port()
            processes.append(start_web(env, port))
            print(f"web          http://127.0.0.1:{port} pid {processes[-1].pid}\n")
            _send_all(f"http://127.0.0.1:{port}/webhooks/telnyx", events, signer)
            print()
            api.state.wait_for(
                lambda rs: len([r for r in rs if r.action]) >= len(expected), timeout
            )
            # Give stragglers no chance to hide: a doubled command would arrive right behind.
            received = _settled(api, timeout=1.0)
        except Exception:
            for process in processes:
                print(f"--- {process.name} log ---\n{process.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            for process in reversed(processes):
                process.stop()
    return _report(received, expected, conference_id)


def _send_all(url: str, events: list[dict[str, Any]], signer: WebhookSigner) -> None:
    with httpx.Client(timeout=5) as http:
        for event in events:
            body = encode(event)
            response = http.post(url, content=body, headers=signer.headers(body))
            data = event["data"]
            outcome = response.json().get("status") or response.json().get("error")
            print(
                f"webhook  {data['event_type']:<32} {data['id'][:8]}"
                f"  -> {response.status_code} {outcome}"
            )


def _settled(api: FakeTelnyxServer, timeout: float) -> list[RecordedRequest]:
    """The action requests once none has arrived for `timeout` seconds."""

    def actions(requests: list[RecordedRequest]) -> list[RecordedRequest]:
        return [r for r in requests if r.action]

    while True:
        seen = len(actions(api.state.requests()))
        if not api.state.wait_for(lambda rs, seen=seen: len(actions(rs)) > seen, timeout):
            return actions(api.state.requests())


def _report(received: list[RecordedRequest], expected: list[Expected], conference_id: str) -> int:
    for request in received:
        body = {k: v for k, v in (request.body or {}).items() if k != "command_id"}
        print(f"telnyx   POST {request.path}\n         {json.dumps(body)} -> {request.status}")
    missing = [e for e in expected if not any(matches(r, e, conference_id) for r in received)]
    accepted = [r for r in received if 200 <= r.status < 300 and not r.duplicate]
    extra = len(accepted) - (len(expected) - len(missing))
    print()
    if missing or extra:
        print(f"FAILED: {len(missing)} expected command(s) missing, {extra} unexpected")
        for e in missing:
            print(f"  missing {e.action} {e.body}")
        return 1
    print(f"OK: {len(expected)} expected commands, each accepted exactly once")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the commands"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    code = run(args.timeout)
    print(f"({time.monotonic() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
