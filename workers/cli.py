"""`conference-worker`: operator commands for a running deployment.

    conference-worker check [--flower]
    conference-worker health [--name NODE] [--timeout SECONDS]
    conference-worker dead-letters list [FILTERS]
    conference-worker dead-letters show TASK_ID
    conference-worker dead-letters replay TASK_ID | --all | FILTERS [--dry-run]
    conference-worker dead-letters purge TASK_ID | --all | FILTERS [--dry-run]

    conference-worker timeline ID [--json] [--show-caller-data]

FILTERS (workers/letters_cli.py): --conference, --action, --code, --status, --since, --until.

Configuration comes from the environment. `check` (the Procfile's release step) prints one
line per finding and exits 1 on any error; `health` (a container's healthcheck) exits 0 only
when this host's own worker answers; the dead-letter commands print JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence

import redis

from core.settings import CommonSettings, ConfigError, load_settings
from records.deadletters import DeadLetters
from records.preflight import report
from records.redis_client import redis_client
from records.timeline import Timeline
from workers import letters_cli, preflight, timeline_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conference-worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="validate the worker's configuration and reach Redis (release step)"
    )
    check.add_argument("--flower", action="store_true", help="also check Flower's basic auth")
    health = commands.add_parser(
        "health",
        help="whether this host's worker answers a ping (a container healthcheck): another "
        "worker on the broker does not count",
    )
    health.add_argument(
        "--name", default=None, help="the worker's node name (default: as the Procfile names it)"
    )
    health.add_argument("--timeout", type=float, default=2.0, help="seconds to wait (default 2)")
    letters_cli.add_parser(commands)
    timeline_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return report(preflight.check(flower=args.flower), sys.stdout)
    if args.command == "health":
        return _health(args.name or own_node_name(), args.timeout)
    try:
        settings = load_settings(CommonSettings)
    except ConfigError as exc:
        print(f"conference-worker: {exc}", file=sys.stderr)
        return 2
    client = redis_client(settings)
    try:
        if args.command == "timeline":
            code, lines = timeline_cli.run(Timeline(client), args)
            print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
            return code
        code, result = letters_cli.run(
            settings, DeadLetters(client, settings.dead_letter_ttl_seconds), args
        )
    except redis.RedisError as exc:
        print(f"conference-worker: Redis unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return code


def own_node_name() -> str:
    """The node name the Procfile's worker line gives the worker on this host."""
    prefix = os.environ.get("DYNO") or os.environ.get("HONCHO_PROCESS_NAME") or "worker"
    return f"{prefix}@{socket.gethostname()}"


def _health(name: str, timeout: float) -> int:
    """Ping only `name` (a broadcast ping would be answered by any worker on the broker, so a
    container whose own worker is hung or gone would pass); returns as soon as it answers."""
    try:
        from workers.monitor import app  # (needs REDIS_URL only; imported here: it reads it)
    except ConfigError as exc:
        print(f"conference-worker: {exc}", file=sys.stderr)
        return 2
    try:
        replies = app.control.ping(destination=[name], timeout=timeout, limit=1)
    except (redis.RedisError, OSError) as exc:
        print(f"{name}: Redis unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()
    if any(reply.get(name, {}).get("ok") == "pong" for reply in replies or []):
        print(f"{name}: pong")
        return 0
    print(f"{name}: no answer within {timeout:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
