"""`conference-worker dead-letters ...`: list, show, replay and purge dead letters, one by id
or many by what their failures share (conference, action, Telnyx code, HTTP status, when).

    dead-letters list [FILTERS] [--limit N]
    dead-letters show TASK_ID
    dead-letters replay TASK_ID | --all | FILTERS [--dry-run]
    dead-letters purge TASK_ID | --all | FILTERS [--dry-run]

FILTERS: --conference ID --action NAME --code CODE --status HTTP --since WHEN --until WHEN,
where WHEN is a duration back from now (10m, 2h, 1d) or an ISO 8601 time. A replay goes
through the conference's lane and prints a summary: replayed, already done, moot.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from typing import Any

from core.settings import CommonSettings
from followups.lane_policy import Timing
from records.clock import RedisClock
from records.deadletters import DeadLetter, DeadLetters
from records.lane_store import LaneStore
from records.letter_filter import MAX_TEXT, LetterFilter, parse_when
from tasks.replay import replay_all

# The most letters one command acts on: a bound on what one operator's command reads.
MAX_LETTERS = 100_000


def add_parser(commands: Any) -> None:
    dead = commands.add_parser("dead-letters", help="actions that failed for good")
    verbs = dead.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    _filters(listing)
    show = verbs.add_parser("show", help="show one dead letter in full")
    show.add_argument("task_id")
    for verb, text in (("replay", "queue again, through its lane"), ("purge", "delete")):
        sub = verbs.add_parser(verb, help=f"{text}: one dead letter, --all, or those filtered")
        which = sub.add_mutually_exclusive_group()
        which.add_argument("task_id", nargs="?")
        which.add_argument("--all", action="store_true")
        _filters(sub)
        sub.add_argument("--dry-run", action="store_true", help="say what it would do; do nothing")


def _filters(parser: argparse.ArgumentParser) -> None:
    text = {"type": _bounded}
    parser.add_argument("--conference", help="a conference id", **text)  # type: ignore[arg-type]
    parser.add_argument("--action", help="conference.speak, or speak", **text)  # type: ignore[arg-type]
    parser.add_argument("--code", help="a Telnyx error code (10010)", **text)  # type: ignore[arg-type]
    parser.add_argument("--status", type=int, help="the HTTP status of the last answer")
    parser.add_argument("--since", type=parse_when, help="failed since: 10m, 2h or a time")
    parser.add_argument("--until", type=parse_when, help="failed until: 10m, 2h or a time")


def _bounded(value: str) -> str:
    if not value or len(value) > MAX_TEXT:
        raise argparse.ArgumentTypeError(f"1 to {MAX_TEXT} characters")
    return value


def letter_filter(args: argparse.Namespace) -> LetterFilter:
    return LetterFilter(
        conference=args.conference, action=args.action, code=args.code, status=args.status,
        since=args.since, until=args.until,
    )  # fmt: skip


def run(settings: CommonSettings, store: DeadLetters, args: argparse.Namespace) -> tuple[int, Any]:
    """The command's exit code and what it prints (JSON)."""
    if args.verb == "show":
        letter = store.get(args.task_id)
        return (0, asdict(letter)) if letter else (1, {"error": "not_found"})
    chosen = letter_filter(args)
    if args.verb == "list":
        found = [x for x in store.list(MAX_LETTERS) if chosen.matches(x)][: args.limit]
        return 0, [summary(letter, store) for letter in found]
    if args.task_id is None and not args.all and chosen.empty:
        return 2, {"error": "name a letter, --all, or at least one filter"}
    letters = _chosen(store, args, chosen)
    if args.verb == "purge":
        if args.dry_run:
            return 0, {"would_purge": [x.task_id for x in letters]}
        purged = sum(store.purge(x.task_id) for x in letters)
        return (0 if purged or args.task_id is None else 1), {"purged": purged}
    # (The lease is not used by a replay. Ages are read by Redis's clock, as the workers'.)
    clock = RedisClock(store.client)
    clock.measure()
    lanes = LaneStore(
        store.client, lease_seconds=1.0, done_ttl_seconds=settings.action_done_ttl_seconds,
        timeline_ttl_seconds=settings.timeline_retention_hours * 3600, clock=clock.now,
    )  # fmt: skip
    done = replay_all(store, lanes, letters, _timing(settings), dry_run=args.dry_run)
    if args.task_id is not None and not letters:
        done.not_found.append(args.task_id)
    result = {"dry_run": args.dry_run} if args.dry_run else {}
    result |= {
        "summary": {"replayed": len(done.replayed), "already_done": len(done.already_done),
                    "moot": len(done.moot), "not_found": len(done.not_found)},
        "replayed": done.replayed, "already_done": done.already_done, "moot": done.moot,
        "not_found": done.not_found,
    }  # fmt: skip
    return (1 if args.task_id and done.not_found else 0), result


def _chosen(store: DeadLetters, args: argparse.Namespace, chosen: LetterFilter) -> list[DeadLetter]:
    if args.task_id is not None:
        letter = store.get(args.task_id)
        return [letter] if letter is not None and chosen.matches(letter) else []
    return [x for x in store.list(MAX_LETTERS) if chosen.matches(x)]


def _timing(settings: CommonSettings) -> Timing:
    """The age rules a replay reports as moot past (the worker's, from the same variables)."""
    return Timing(
        settle_ms=0, spacing_ms=0, max_age_ms=settings.event_max_age_seconds * 1000,
        wants_created=False, announce_max_age_ms=settings.announce_max_age_seconds * 1000,
    )  # fmt: skip


def summary(letter: DeadLetter, store: DeadLetters) -> dict[str, Any]:
    now = time.time()
    return {
        "task_id": letter.task_id,
        "task": letter.task,
        "conference_id": letter.conference,
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
