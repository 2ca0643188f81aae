"""Follow-up rules from a TOML file: which events lead to which conference or call actions.

    [[rule]]
    on = "conference.participant.left"          # an event type, or a list of them
    when = { state_role = "agent" }             # optional: every listed field must match
    action = "conference.speak"                 # conference.<action> or call.<action>
    params = { payload = "{name} has left.", voice = "female" }   # call_control_ids: all
    fallback = { payload = "A participant has left." }   # optional: used when a field is empty
    merge = { template = "{names} have left.", names = 3 }  # optional, see below
    max_age = 120                               # optional: retried until the event is this old
    # target = "{conference_id}"                # default: {conference_id}, or {call_control_id}

A file replaces the built-in rules (record on create, announce joins; followups/policy.py);
`include_defaults = true` at its top keeps them and adds its own.

Placeholders name fields of the event: event_id, event_type, conference_id, call_control_id,
call_leg_id, call_session_id, connection_id, queue, reason, recording_id, name (from
client_state), and state_<key> for each field of a JSON client_state. A rule whose placeholders
are empty for an event, and that has no fallback for them, is skipped for that event.

A `conference.speak` on `conference.participant.joined` or `.left` is an announcement: several
of one conference waiting at once are merged into one sentence ("Ada Lovelace, Grace Hopper and
37 others have joined the conference."). `merge` sets its words (template with {names}, names,
others with {count}, one_other, unnamed with {count}, conjunction; followups/announcement.py has
the defaults), or `merge = false` announces every participant on their own.

The whole file is checked when the worker starts: a bad file stops it with the line and reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.naming import command_id
from followups.announcement import JOINED, LEFT, Chorus, participant_name
from followups.followup import Announce, FollowUp
from telnyx_api.client import (
    CALL_ACTIONS,
    CONFERENCE_ACTIONS,
    EVERYONE,
    build_body,
    participants_param,
    supports_command_id,
)
from telnyx_api.errors import InvalidRequestError
from telnyx_api.events import KNOWN_EVENTS, Event

FIELDS = (
    "event_id", "event_type", "conference_id", "call_control_id", "call_leg_id",
    "call_session_id", "connection_id", "queue", "reason", "recording_id", "name",
)  # fmt: skip


class RulesError(Exception):
    """The rules file cannot be used; the message names the file, line and reason."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on: list[str]
    action: str
    params: dict[str, Any] = {}
    when: dict[str, str | list[str]] = {}
    fallback: dict[str, Any] = {}
    target: str | None = None
    # Announcements only: the words of a merged announcement, or false to never merge.
    merge: dict[str, Any] | bool | None = None
    # Seconds after its event until the action is given up on as expired (default:
    # ANNOUNCE_MAX_AGE_SECONDS for announcements, EVENT_MAX_AGE_SECONDS for the rest).
    max_age: Annotated[int, Field(ge=10, le=7 * 86400)] | None = None
    # Its class when the fleet's pace makes commands wait: "first" goes before "normal"
    # (default: record_start first, the rest normal).
    priority: Literal["first", "normal"] | None = None
    # Prefixes the keys of this rule's follow-ups (so their task ids and command_ids): a file's
    # rules get "rule<N>"; the built-in rules none, the keys the defaults have always had.
    key: str | None = None

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("on")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in KNOWN_EVENTS]
        if unknown:
            raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
        return value

    @field_validator("merge")
    @classmethod
    def _chorus(cls, value: dict[str, Any] | bool | None) -> dict[str, Any] | bool | None:
        if value is True:
            return None
        if isinstance(value, dict):
            _make_chorus(value)
        return value

    @property
    def kind(self) -> str:
        return self.action.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.action.split(".", 1)[1]


@dataclass(frozen=True)
class RulesFile:
    rules: list[Rule]
    include_defaults: bool = False


def load_rules(path: str | Path) -> list[Rule]:
    """The rules of a file alone (see load_rules_file)."""
    return load_rules_file(path).rules


def load_rules_file(path: str | Path) -> RulesFile:
    """Read and check a rules file; raise RulesError naming the line of the first problem."""
    path = Path(path)
    try:
        text = path.read_text()
        document = tomllib.loads(text)
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: {exc}") from None
    unknown = set(document) - {"rule", "include_defaults"}
    if unknown:
        raise RulesError(f"{path}: unknown table(s): {', '.join(sorted(unknown))} (use [[rule]])")
    include_defaults = document.get("include_defaults", False)
    if not isinstance(include_defaults, bool):
        raise RulesError(f"{path}: include_defaults must be true or false")
    lines = [
        n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)
    ]
    rules = []
    for index, raw in enumerate(document.get("rule", [])):
        where = f"{path}:{lines[index] if index < len(lines) else 1}: rule {index + 1}"
        try:
            if isinstance(raw, dict) and "key" in raw:
                raise ValueError("'key' is not a field of a rule")
            rule = Rule.model_validate({**raw, "key": f"rule{index + 1}"})
            _check(rule)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise RulesError(f"{where}: {loc}: {first['msg']}") from None
        except (ValueError, InvalidRequestError) as exc:
            raise RulesError(f"{where}: {exc}") from None
        rules.append(rule)
    return RulesFile(rules, include_defaults)


def plan(event: Event, rules: list[Rule]) -> list[FollowUp]:
    """The follow-ups an event calls for under `rules` (built-in, from a file, or both)."""
    context = event_context(event)
    followups = []
    for rule in rules:
        if event.event_type not in rule.on or not _matches(rule.when, context):
            continue
        rendered = _render(rule, context)
        if rendered is None:
            continue
        target, params = rendered
        followup = FollowUp(rule.kind, rule.name, target, params)  # type: ignore[arg-type]
        if supports_command_id(rule.kind, rule.name):
            key = f"{rule.key}:{followup.key}" if rule.key else followup.key
            params = {**params, "command_id": command_id(event.id, key)}
        announce = _announce(rule, event.event_type, params, context)
        planned_by = rule.key or "built-in"
        kind = cast(Literal["conference", "call"], rule.kind)
        followup = FollowUp(
            kind, rule.name, target, params, announce, rule.max_age, planned_by, rule.priority
        )
        followups.append(followup)
    return followups


ANNOUNCED_EVENTS = {
    "conference.participant.joined": JOINED,
    "conference.participant.left": LEFT,
}


def _announce(
    rule: Rule, event_type: str, params: dict[str, Any], context: dict[str, str]
) -> Announce | None:
    """Announcement details for a speak on a join or leave, unless its rule says never merge."""
    if rule.action != "conference.speak" or event_type not in ANNOUNCED_EVENTS:
        return None
    if rule.merge is False:
        return None
    chorus = (
        _make_chorus(rule.merge) if isinstance(rule.merge, dict) else ANNOUNCED_EVENTS[event_type]
    )
    # Merged only with announcements spoken alike (voice, language, to whom) by the same rule.
    alike = {k: v for k, v in params.items() if k not in ("payload", "command_id")}
    digest = hashlib.blake2b(json.dumps(alike, sort_keys=True, default=str).encode()).hexdigest()
    return Announce(
        group=f"{rule.key or 'default'}:{event_type}:{digest[:12]}",
        chorus=chorus,
        name=context.get("name"),
        participant=context.get("call_control_id"),
        joined=event_type == "conference.participant.joined",
    )


def _make_chorus(spec: dict[str, Any]) -> Chorus:
    allowed = set(Chorus.__dataclass_fields__)
    unknown = set(spec) - allowed
    if unknown:
        known = ", ".join(sorted(allowed))
        raise ValueError(f"merge: unknown key(s) {', '.join(sorted(unknown))} (known: {known})")
    if "names" in spec and (not isinstance(spec["names"], int) or isinstance(spec["names"], bool)):
        raise ValueError("merge: names must be a whole number")
    for key, value in spec.items():
        if key != "names" and not isinstance(value, str):
            raise ValueError(f"merge: {key} must be text")
    try:
        return Chorus(**spec)
    except ValueError as exc:
        raise ValueError(f"merge: {exc}") from None


def event_context(event: Event) -> dict[str, str]:
    payload = getattr(event, "payload", None)
    raw = payload.model_dump() if isinstance(payload, BaseModel) else dict(payload or {})
    context = {k: str(v) for k, v in raw.items() if k in FIELDS and v not in (None, "")}
    context.update(event_id=event.id, event_type=event.event_type)
    state = raw.get("client_state")
    name = participant_name(state) if isinstance(state, str) else None
    if name:
        context["name"] = name
    context.update(_state_fields(state))
    return context


def _state_fields(state: Any) -> dict[str, str]:
    if not isinstance(state, str):
        return {}
    try:
        parsed = json.loads(base64.b64decode(state, validate=True))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {f"state_{k}": str(v) for k, v in parsed.items() if isinstance(v, str | int | float)}


def _matches(when: dict[str, str | list[str]], context: dict[str, str]) -> bool:
    for key, wanted in when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if context.get(key) not in allowed:
            return False
    return True


def _render(rule: Rule, context: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    default_target = "{conference_id}" if rule.kind == "conference" else "{call_control_id}"
    target = _fill(rule.target or default_target, context)
    params = _fill(rule.params, context)
    if params is None and rule.fallback:
        params = _fill({**rule.params, **rule.fallback}, context)
    if target is None or params is None:
        return None
    return str(target), params


def _fill(value: Any, context: dict[str, str]) -> Any:
    """Fill placeholders; None when one of them has no value for this event."""
    if isinstance(value, str):
        names = _placeholders(value)
        if any(not context.get(n) for n in names):
            return None
        return value.format_map({n: context[n] for n in names})
    if isinstance(value, list):
        items = [_fill(v, context) for v in value]
        return None if any(i is None for i in items) else items
    if isinstance(value, dict):
        filled = {k: _fill(v, context) for k, v in value.items()}
        return None if any(v is None for v in filled.values()) else filled
    return value


def _placeholders(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"bad template {template!r}: {exc}") from None


def _check(rule: Rule) -> None:
    """Every placeholder known, and the rendered body valid for the action."""
    if rule.kind == "conference" and rule.name in CONFERENCE_ACTIONS:
        model, addresses_participants = CONFERENCE_ACTIONS[rule.name]
    elif rule.kind == "call" and rule.name in CALL_ACTIONS:
        model, addresses_participants = CALL_ACTIONS[rule.name], False
    else:
        raise ValueError(f"unknown action {rule.action!r}")
    for template in _templates([rule.params, rule.fallback, rule.when, rule.target or ""]):
        for name in _placeholders(template):
            if name not in FIELDS and not re.fullmatch(r"state_\w+", name):
                raise ValueError(f"unknown placeholder {{{name}}}")
    sample = dict.fromkeys(FIELDS, "x")
    params = dict(_fill({**rule.params, **rule.fallback}, _Everything(sample)) or {})
    if addresses_participants:
        # Left out, it means every participant, as in the client and Telnyx's SDKs.
        params["call_control_ids"] = participants_param(params.get("call_control_ids", EVERYONE))
    build_body(model, params)


def _templates(values: list[Any]) -> list[str]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += _templates(list(value))
        elif isinstance(value, dict):
            found += _templates(list(value.values()))
    return found


class _Everything(dict[str, str]):
    """A context where every placeholder, state_* included, has a value: for checking."""

    def get(self, key: str, default: Any = None) -> Any:
        return "x"

    def __getitem__(self, key: str) -> str:
        return "x"
