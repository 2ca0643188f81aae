"""The whole pipeline on one machine, with nothing installed but Python.

Starts a private Redis, the local Telnyx-compatible API, the Procfile's web and worker
processes, then plays a signed conference scenario against the web process and prints each
webhook and each command Telnyx received. Exits 0 when exactly the expected commands arrived:
the recording first, then every participant announced once, in join order.

    python -m testkit.demo
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from typing import Any

import httpx

from sandbox.api.http import FakeTelnyxServer
from sandbox.api.recorded import RecordedRequest
from sandbox.events import encode
from sandbox.redis_server import RedisServer, free_port
from sandbox.scenario import NAMES, scenario
from sandbox.signer import WebhookSigner
from testkit.announcements import announced
from testkit.processes import ManagedProcess, start_web, start_worker


def problems(received: list[RecordedRequest], conference_id: str) -> list[str]:
    """What is wrong with the commands the API received for the scenario; [] if nothing: the
    recording first, then everyone announced once, in join order, by name."""
    accepted = [r for r in received if r.action and 200 <= r.status < 300 and not r.duplicate]
    found = []
    if [r.target for r in accepted] != [conference_id] * len(accepted):
        found.append("commands for another target")
    if not accepted or accepted[0].action != "record_start":
        found.append("the first command is not record_start")
    elif {k: accepted[0].body.get(k) for k in ("format", "channels")} != {
        "format": "mp3",
        "channels": "single",
    }:
        found.append(f"record_start with {accepted[0].body}")
    speaks = accepted[1:]
    if any(r.action != "speak" for r in speaks):
        found.append("commands other than record_start and speak")
    if any((r.body or {}).get("voice") != "female" for r in speaks):
        found.append("a speak without the configured voice")
    spoken = announced(speaks, conference_id)
    names = [n for c in spoken for n in c.named]
    if names != NAMES or sum(c.total for c in spoken) != len(NAMES) or len(spoken) != len(speaks):
        found.append(f"announced {names} in {len(speaks)} speak(s), wanted {NAMES} once each")
    return found


def complete(received: list[RecordedRequest], conference_id: str) -> bool:
    """Every participant announced: the scenario's commands are out."""
    return sum(c.total for c in announced(received, conference_id)) >= len(NAMES)


def run(timeout: float) -> int:
    api_key = "demo-" + secrets.token_hex(8)
    signer = WebhookSigner()
    conference_id = str(uuid.uuid4())
    events, ended = scenario(conference_id)
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
            url = f"http://127.0.0.1:{port}/webhooks/telnyx"
            _send_all(url, events, signer)
            api.state.wait_for(lambda rs: complete(rs, conference_id), timeout)
            # (An end delivered earlier would make the announcements still waiting moot.)
            _send_all(url, [ended], signer)
            print()
            # Give stragglers no chance to hide: a doubled command would arrive right behind.
            received = _settled(api, timeout=1.0)
        except Exception:
            for process in processes:
                print(f"--- {process.name} log ---\n{process.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            for process in reversed(processes):
                process.stop()
    return _report(received, conference_id)


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


def _report(received: list[RecordedRequest], conference_id: str) -> int:
    for request in received:
        body = {k: v for k, v in (request.body or {}).items() if k != "command_id"}
        print(f"telnyx   POST {request.path}\n         {json.dumps(body)} -> {request.status}")
    print()
    found = problems(received, conference_id)
    if found:
        print("FAILED: " + "; ".join(found))
        return 1
    speaks = len(received) - 1
    print(
        f"OK: the recording first, then {len(NAMES)} participants announced in join order in "
        f"{speaks} speak command(s); each command accepted exactly once"
    )
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
