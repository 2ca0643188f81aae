"""`conference-worker timeline ID`: everything the service did for one conference, in order,
then one verdict per planned action (done, moot, dead-lettered, or pending and why).

ID is a conference id, an event id or a call control id. The entries are the conference's
timeline (records/timeline.py), kept TIMELINE_RETENTION_HOURS. `--json` prints JSON lines.
Caller data (names, client_state) is left out unless `--show-caller-data` asks for it, so the
default output can be pasted into a ticket.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from followups.announcement import participant_name
from records.timeline import Timeline

# The ledger's done records, as verdicts.
_RECORDED = {"1": "done", "moot": "moot", "dead": "dead-lettered"}
_OUTCOMES = {"sent": "done", "duplicate": "done", "moot": "moot", "dead_letter": "dead-lettered"}


def add_parser(commands: Any) -> None:
    timeline = commands.add_parser(
        "timeline", help="what the service did for one conference, in order, and each verdict"
    )
    timeline.add_argument("id", help="a conference id, an event id or a call control id")
    timeline.add_argument("--json", action="store_true", help="JSON lines")
    timeline.add_argument(
        "--show-caller-data", action="store_true", help="include names and client_state"
    )


@dataclass(frozen=True)
class Verdict:
    action_id: str
    action: str
    verdict: str  # done, moot, dead-lettered, pending
    why: str


def run(timeline: Timeline, args: argparse.Namespace) -> tuple[int, list[str]]:
    """The exit code and the lines to print."""
    conference_id = timeline.resolve(args.id[:300])
    if conference_id is None:
        return 1, [f"no timeline kept for {args.id[:300]} (kept TIMELINE_RETENTION_HOURS)"]
    entries = timeline.entries(conference_id)
    if not args.show_caller_data:
        entries = [{k: v for k, v in e.items() if k != "caller"} for e in entries]
    verdicts = judge(entries, timeline, conference_id)
    if args.json:
        lines = [json.dumps({"at": _at(e), "conference_id": conference_id, **e}) for e in entries]
        return 0, lines + [json.dumps({"kind": "verdict", **asdict(v)}) for v in verdicts]
    lines = [f"conference {conference_id}: {len(entries)} entries"]
    lines += [f"{_at(e)}  {describe(e)}" for e in entries]
    lines.append("verdicts:")
    lines += [f"  {v.action} {v.action_id}: {v.verdict}{f' ({v.why})' if v.why else ''}"
              for v in verdicts]  # fmt: skip
    return 0, lines


def judge(
    entries: list[dict[str, Any]], timeline: Timeline, conference_id: str = ""
) -> list[Verdict]:
    """One verdict per planned action, from the entries (a command's outcome applies to every
    action it covered, and to those of the dead letter it replays), else the ledger."""
    planned: dict[str, str] = {}
    found: dict[str, tuple[str, str]] = {}
    covers: dict[str, set[str]] = {}
    for e in entries:
        kind, batch = e.get("kind"), e.get("batch")
        if kind == "planned":
            planned.update({a["id"]: a["action"] for a in e.get("actions", [])})
            continue
        actions = set(e.get("actions", []))
        if batch:
            actions |= covers.setdefault(batch, set())
            covers[batch] |= actions
        outcome = _outcome(e)
        for action_id in actions:
            if outcome is not None or found.get(action_id, ("pending",))[0] == "pending":
                found[action_id] = outcome or ("pending", _pending(e))
        if kind == "wait" and not actions:
            for action_id in planned.keys() - found.keys():
                found[action_id] = ("pending", _pending(e))
    # (The ledger has the last word on an action still pending, and on one dead-lettered: a
    # run that lost its lane may have had it accepted since, and a replay may have settled it,
    # neither with an entry.)
    recorded = timeline.done_records(conference_id, [a for a in planned if a not in found or
                                      found[a][0] in ("pending", "dead-lettered")])  # fmt: skip
    verdicts = []
    for action_id, action in planned.items():
        verdict, why = found.get(action_id, ("pending", "waiting in its conference's lane"))
        settled = _RECORDED.get(recorded.get(action_id, ""))
        if verdict == "pending" and settled:
            verdict, why = settled, "the ledger's record"
        elif verdict == "dead-lettered" and settled in ("done", "moot"):
            verdict, why = settled, f"the ledger's record, since its dead letter ({why})"
        verdicts.append(Verdict(action_id, action, verdict, why))
    return verdicts


def _outcome(e: dict[str, Any]) -> tuple[str, str] | None:
    kind = e.get("kind")
    if kind in _OUTCOMES:
        why = e.get("why") or e.get("reason") or ""
        if kind == "sent":
            why = f"sent at {_at(e)}, request id {e.get('request_id') or '-'}"
        elif kind == "dead_letter":
            why = f"{why}, HTTP {e.get('status') or '-'}, codes {_text(e.get('codes', []))}"
        return _OUTCOMES[str(kind)], str(why)
    if kind == "dropped":
        verdict = "dead-lettered" if e.get("outcome") == "expired" else "moot"
        return verdict, str(e.get("why", ""))
    if kind == "replay":
        if e.get("outcome") == "moot":
            return "moot", f"replayed: {e.get('why')}"
        if e.get("outcome") == "already_done":
            return "done", "replayed: done already"
        return "pending", f"replayed at {_at(e)}: back in its conference's lane"
    return None


def _pending(e: dict[str, Any]) -> str:
    if e.get("kind") == "wait":
        return f"waiting: {e.get('why')}"
    if e.get("kind") == "attempt_failed":
        return f"attempt {e.get('attempt')} failed (HTTP {e.get('status')}), retrying"
    return "in its conference's lane"


def describe(e: dict[str, Any]) -> str:
    """One entry as one line."""
    kind = str(e.get("kind"))
    skip = {"t", "kind", "caller"}
    fields = " ".join(f"{k}={_text(v)}" for k, v in e.items() if k not in skip)
    caller = e.get("caller")
    if isinstance(caller, dict):
        names = caller.get("names") or [participant_name(caller.get("client_state"))]
        fields += f" caller={_text([n for n in names if n])}"
    return f"{kind:<14} {fields}"


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _at(e: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(int(e.get("t", 0)) / 1000, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
