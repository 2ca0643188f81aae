"""`telnyx-conference`: every conference and queue operation from the shell, JSON out.

    telnyx-conference conferences list --status in_progress
    telnyx-conference conferences speak CONF_ID --payload "Hello" --voice female  # everyone
    telnyx-conference calls enqueue CALL_CONTROL_ID --queue support

TELNYX_API_KEY and TELNYX_API_BASE_URL come from the environment. Exit status: 0 on success,
1 when Telnyx (or the network) refused the command, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from telnyx_api.client import CALL_ACTIONS, CONFERENCE_ACTIONS, EVERYONE, TelnyxClient
from telnyx_api.errors import APIError, InvalidRequestError, TelnyxError
from telnyx_api.pagination import Page
from telnyx_api.params import CreateConferenceRequest, Region
from telnyx_api.transport import DEFAULT_BASE_URL

# Shorter spellings operators expect, kept beside the spec's own names.
ALIASES = {"queue_name": ["--queue"]}
HELP = {
    "hold": "Put participants on hold.",
    "unhold": "Take participants off hold.",
    "join": "Join a call to the conference.",
    "leave": "Remove a call from the conference.",
    "mute": "Mute participants.",
    "unmute": "Unmute participants.",
    "play": "Play audio to participants.",
    "stop": "Stop audio being played.",
    "speak": "Speak text to participants.",
    "record_start": "Start recording the conference.",
    "record_pause": "Pause the recording.",
    "record_resume": "Resume the recording.",
    "record_stop": "Stop the recording.",
    "update": "Change a participant's supervisor role.",
    "enqueue": "Put a call in a queue.",
    "leave_queue": "Take a call out of its queue.",
}


class UsageError(Exception):
    """Bad arguments or configuration: exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _client() as client:
            result = args.run(client, args)
    except (UsageError, InvalidRequestError) as exc:
        print(f"telnyx-conference: {exc}", file=sys.stderr)
        return 2
    except TelnyxError as exc:
        print(json.dumps({"error": _error_json(exc)}, indent=2), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telnyx-conference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{conferences,calls}")
    conferences = groups.add_parser("conferences", help="conferences and their participants")
    calls = groups.add_parser("calls", help="call queue commands")
    conference_commands = conferences.add_subparsers(dest="command", required=True)
    call_commands = calls.add_subparsers(dest="command", required=True)
    _add_reads(conference_commands)
    for action, (model, addresses_participants) in CONFERENCE_ACTIONS.items():
        sub = conference_commands.add_parser(action, help=HELP[action], description=HELP[action])
        sub.add_argument("id", help="conference id or name")
        _add_model_options(sub, model, addresses_participants)
        sub.set_defaults(run=_conference_action(action, addresses_participants))
    for action, model in CALL_ACTIONS.items():
        sub = call_commands.add_parser(action, help=HELP[action], description=HELP[action])
        sub.add_argument("call_control_id", help="call control id, e.g. v3:...")
        _add_model_options(sub, model, False)
        sub.set_defaults(run=_call_action(action))
    return parser


def _add_reads(commands: Any) -> None:
    listing = commands.add_parser("list", help="list conferences", description="List conferences.")
    listing.add_argument("--name", help="only conferences with this name")
    listing.add_argument("--status", choices=["init", "in_progress", "completed"])
    listing.add_argument("--connection-id", help="only this Call Control application")
    _add_paging(listing)
    listing.set_defaults(run=_list_conferences)

    create = commands.add_parser(
        "create", help="create a conference", description="Create a conference from a call."
    )
    create.add_argument("--call-control-id", required=True)
    create.add_argument("--name", required=True)
    _add_model_options(create, CreateConferenceRequest, False, skip={"call_control_id", "name"})
    create.set_defaults(run=_create)

    retrieve = commands.add_parser(
        "retrieve", help="show one conference", description="Show one conference."
    )
    retrieve.add_argument("id")
    retrieve.add_argument("--region", choices=_choices(get_args(Region)))
    retrieve.set_defaults(
        run=lambda c, a: c.conferences.retrieve(a.id, region=a.region).model_dump(mode="json")
    )

    participants = commands.add_parser(
        "participants",
        help="list a conference's participants",
        description="List a conference's participants.",
    )
    participants.add_argument("conference_id")
    for flag in ("muted", "on_hold", "whispering"):
        participants.add_argument(
            f"--{flag.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=None
        )
    _add_paging(participants)
    participants.set_defaults(run=_list_participants)


def _add_paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-number", type=int, help="which page (from 1)")
    parser.add_argument("--page-size", type=int, help="rows a page (1-250)")
    parser.add_argument("--all", action="store_true", help="walk every page and print all rows")
    parser.add_argument("--region", choices=_choices(get_args(Region)))


def _add_model_options(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    addresses_participants: bool,
    skip: set[str] | None = None,
) -> None:
    """One option a field of the request model: names, choices and types from the model."""
    for name, info in model.model_fields.items():
        if name in (skip or set()) or (addresses_participants and name == "call_control_ids"):
            continue
        flags = [f"--{name.replace('_', '-')}", *ALIASES.get(name, [])]
        parser.add_argument(*flags, dest=name, required=info.is_required(), **_option(info))
    if addresses_participants:
        who = parser.add_mutually_exclusive_group()
        who.add_argument(
            "--call-control-ids", nargs="+", metavar="ID", help="these participants (default: all)"
        )
        who.add_argument("--everyone", action="store_true", help="every participant (the default)")


def _option(info: FieldInfo) -> dict[str, Any]:
    kind = _unwrap(info.annotation)
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction, "default": None}
    if kind is int:
        return {"type": int}
    if get_origin(kind) is Literal:
        return {"choices": _choices(get_args(kind))}
    if get_origin(kind) is list:
        return {"nargs": "+", "metavar": "ID"}
    if get_origin(kind) is dict:
        return {"type": _json_object, "metavar": "JSON"}
    if _is_loop(kind):
        return {"type": _loop, "metavar": "1-100|infinity"}
    return {"type": str}


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, and Annotated[X, ...] -> X."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_loop(kind: Any) -> bool:
    return get_origin(kind) in (typing.Union, types.UnionType) and any(
        get_origin(_unwrap(a)) is Literal and "infinity" in get_args(_unwrap(a))
        for a in get_args(kind)
    )


def _choices(values: tuple[Any, ...]) -> list[str]:
    return [str(v) for v in values]


def _loop(value: str) -> int | str:
    if value == "infinity":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be 1-100 or 'infinity'") from None


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return parsed


def _params(
    args: argparse.Namespace, model: type[BaseModel], addresses_participants: bool
) -> dict[str, Any]:
    params = {
        name: getattr(args, name)
        for name in model.model_fields
        if getattr(args, name, None) is not None and name != "call_control_ids"
    }
    if addresses_participants:
        # Neither option: every participant, as in the client and Telnyx's SDKs.
        params["call_control_ids"] = args.call_control_ids or EVERYONE
    elif getattr(args, "call_control_ids", None) is not None:
        params["call_control_ids"] = args.call_control_ids
    return params


def _conference_action(
    action: str, addresses_participants: bool
) -> Callable[[TelnyxClient, argparse.Namespace], Any]:
    model = CONFERENCE_ACTIONS[action][0]

    def run(client: TelnyxClient, args: argparse.Namespace) -> Any:
        params = _params(args, model, addresses_participants)
        return client.conferences.actions.perform(action, args.id, params).model_dump(mode="json")

    return run


def _call_action(action: str) -> Callable[[TelnyxClient, argparse.Namespace], Any]:
    model = CALL_ACTIONS[action]

    def run(client: TelnyxClient, args: argparse.Namespace) -> Any:
        params = _params(args, model, False)
        return client.calls.actions.perform(action, args.call_control_id, params).model_dump(
            mode="json"
        )

    return run


def _create(client: TelnyxClient, args: argparse.Namespace) -> Any:
    params = _params(args, CreateConferenceRequest, False)
    return client.conferences.create(**params).model_dump(mode="json")


def _paging(args: argparse.Namespace) -> dict[str, int]:
    page = {"number": args.page_number, "size": args.page_size}
    return {k: v for k, v in page.items() if v is not None}


def _list_conferences(client: TelnyxClient, args: argparse.Namespace) -> Any:
    filters = {"name": args.name, "status": args.status, "connection_id": args.connection_id}
    page = client.conferences.list(
        filter={k: v for k, v in filters.items() if v is not None},
        page=_paging(args),
        region=args.region,
    )
    return _page_json(page, args.all)


def _list_participants(client: TelnyxClient, args: argparse.Namespace) -> Any:
    filters = {"muted": args.muted, "on_hold": args.on_hold, "whispering": args.whispering}
    page = client.conferences.list_participants(
        args.conference_id,
        filter={k: v for k, v in filters.items() if v is not None},
        page=_paging(args),
        region=args.region,
    )
    return _page_json(page, args.all)


def _page_json(page: Page[Any], walk_all: bool) -> Any:
    if walk_all:
        return [row.model_dump(mode="json") for row in page]
    return {
        "data": [row.model_dump(mode="json") for row in page.data],
        "meta": page.meta.model_dump(),
    }


def _client() -> TelnyxClient:
    api_key = os.environ.get("TELNYX_API_KEY", "").strip()
    if not api_key:
        print("telnyx-conference: TELNYX_API_KEY is required", file=sys.stderr)
        raise SystemExit(2)
    base_url = os.environ.get("TELNYX_API_BASE_URL", DEFAULT_BASE_URL)
    return TelnyxClient(api_key, base_url=base_url)


def _error_json(exc: TelnyxError) -> dict[str, Any]:
    if isinstance(exc, APIError):
        return {
            "status": exc.status_code,
            "errors": [
                {"code": e.code, "title": e.title, "detail": e.detail, "pointer": e.pointer}
                for e in exc.errors
            ],
            "request_id": exc.request_id,
            "retryable": exc.retryable,
        }
    return {"type": type(exc).__name__, "message": str(exc), "retryable": exc.retryable}


if __name__ == "__main__":
    sys.exit(main())
