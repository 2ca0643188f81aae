"""`conference-worker`: operator commands for a running deployment.

    conference-worker check [--flower]
    conference-worker health [--name NODE] [--timeout SECONDS]
    conference-worker dead-letters list
    conference-worker dead-letters show TASK_ID
    conference-worker dead-letters replay TASK_ID | --all
    conference-worker dead-letters purge TASK_ID | --all

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
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import redis

from core.settings import CommonSettings, ConfigError, load_settings
from records.deadletters import DeadLetter, DeadLetters
from records.preflight import report
from records.redis_client import redis_client
from workers import preflight


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
    dead = commands.add_parser("dead-letters", help="actions that failed for good")
    verbs = dead.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    show = verbs.add_parser("show", help="show one dead letter in full")
    show.add_argument("task_id")
    for verb, text in (("replay", "queue again for the workers"), ("purge", "delete")):
        sub = verbs.add_parser(verb, help=f"{text}: one dead letter, or --all")
        which = sub.add_mutually_exclusive_group(required=True)
        which.add_argument("task_id", nargs="?")
        which.add_argument("--all", action="store_true")
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
        code, result = _dead_letters(DeadLetters(client, settings.dead_letter_ttl_seconds), args)
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


def _dead_letters(store: DeadLetters, args: argparse.Namespace) -> tuple[int, Any]:
    if args.verb == "list":
        return 0, [_summary(letter, store) for letter in store.list(args.limit)]
    if args.verb == "show":
        letter = store.get(args.task_id)
        return (0, asdict(letter)) if letter else (1, {"error": "not_found"})
    ids = [letter.task_id for letter in store.list(100_000)] if args.all else [args.task_id]
    if args.verb == "replay":
        replayed = [task_id for task_id in ids if store.replay(task_id)]
        missing = sorted(set(ids) - set(replayed))
        return (1 if missing else 0), {"replayed": replayed, "not_found": missing}
    purged = store.purge(None if args.all else args.task_id)
    return (0 if purged or args.all else 1), {"purged": purged}


def _summary(letter: DeadLetter, store: DeadLetters) -> dict[str, Any]:
    now = time.time()
    return {
        "task_id": letter.task_id,
        "task": letter.task,
        "reason": letter.reason,
        "status": letter.status,
        "codes": letter.codes,
        "event_id": letter.event_id,
        "failed_at": letter.failed_at,
        "age_seconds": round(now - letter.failed_at),
        "expires_at": store.expires_at(letter),
        "expires_in_seconds": round(store.expires_at(letter) - now),
        "error": letter.error[:200],
    }


if __name__ == "__main__":
    sys.exit(main())
