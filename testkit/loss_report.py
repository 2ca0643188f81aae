"""When a fault scenario loses or doubles a command: which one, and the evidence to explain it
(the lane and ledger records of its conference on the primary, the commands Redis ran for it,
the API's requests, the worker's log)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from core.naming import KEY_PREFIX, followup_task_id, inline_drain_id, seen_key
from followups.policy import Policy, default_rules
from followups.rules import plan
from records.ledger import claim_key
from records.once import done_key
from telnyx_api.events import Envelope
from testkit.announcements import Covered, covered
from testkit.failover_watch import FailoverWatch, server_logs
from testkit.harness import Cluster, accepted_by_command


def affected(events: Iterable[Mapping[str, Any]], cluster: Cluster) -> dict[str, list[str]]:
    """Conference id -> what went wrong there: commands never accepted, joiners announced
    fewer or more times than they joined."""
    accepted = accepted_by_command(cluster.api.state.requests())
    wrong: dict[str, list[str]] = {}
    names: dict[str, list[str | None]] = {}
    for event in events:
        data = Envelope.model_validate(event).data
        for followup in plan(data, default_rules(Policy())):
            command_id = str(followup.params["command_id"])
            if followup.announce is not None:
                names.setdefault(followup.target, []).append(followup.announce.name)
            elif command_id not in accepted:
                wrong.setdefault(followup.target, []).append(
                    f"{followup.action} command_id={command_id} never accepted"
                )
    said: dict[str, list[Covered]] = {}
    for requests in accepted.values():
        first = requests[0]
        text = (first.body or {}).get("payload")
        found = covered(text) if first.action == "speak" and isinstance(text, str) else None
        if found is not None:
            said.setdefault(str(first.target), []).append(found)
    for conference, expected in names.items():
        spoken = said.get(conference, [])
        total = sum(c.total for c in spoken)
        named = [n for c in spoken for n in c.named]
        if total != len(expected) or len(set(named)) != len(named):
            missing = [n for n in expected if n not in named]
            wrong.setdefault(conference, []).append(
                f"{len(expected)} joiners, {total} announced (named: {named}; not named: {missing})"
            )
    return wrong


def lane_records(client: redis.Redis, conference_id: str, action_ids: Iterable[str]) -> list[str]:
    """The conference's lane (hash, queue, items, lease) and each action's ledger records."""
    base = f"{KEY_PREFIX}lane:{conference_id}"
    lines = [
        f"lane {client.hgetall(base)!r}",
        f"queue {client.zrange(base + ':q', 0, -1, withscores=True)!r}",
        f"items {list(client.hkeys(base + ':items'))!r}",
        f"lease {client.get(base + ':lease')!r} ttl_ms={client.pttl(base + ':lease')}",
    ]
    for action_id in action_ids:
        lines.append(
            f"{action_id}: done={client.get(done_key(action_id))!r} "
            f"claim={client.get(claim_key(action_id))!r}"
        )
    return lines


def explain(
    cluster: Cluster,
    events: list[dict[str, Any]],
    acked: list[bool],
    watch: FailoverWatch,
    timings: Mapping[str, float],
) -> str:
    """Everything known about each conference that lost or doubled something."""
    wrong = affected([e for e, ok in zip(events, acked, strict=True) if ok], cluster)
    out = [f"=== LOSS REPORT: {sum(map(len, wrong.values()))} problem(s)", f"timings {timings}"]
    out += ["--- server roles", *watch.role_changes()]
    out += ["--- who sent commands to which server, as what", *watch.clients_by_server()]
    restarted = timings.get("restarted_at")
    if restarted and "old_port" in timings:
        used = watch.after_restart(int(timings["old_port"]), restarted)
        out += [f"--- the old primary after its restart ({len(used)} commands)", *used[:200]]
    client = cluster.redis()
    try:
        for conference, problems in wrong.items():
            mine = [e for e in events if e["data"]["payload"]["conference_id"] == conference]
            ids = _ids(mine)
            out += [f"=== conference {conference}", *problems]
            out += ["--- events (id, type, acked, seen key, action ids)"]
            for event in mine:
                event_id = event["data"]["id"]
                out.append(
                    f"{event_id} {event['data']['event_type']} "
                    f"acked={acked[events.index(event)]} "
                    f"seen={client.exists(seen_key(event_id))} actions={ids[event_id]}"
                )
            out += ["--- on the primary now", *lane_records(client, conference, _flat(ids))]
            out += ["--- the API's requests"]
            for r in cluster.api.state.requests():
                if r.target == conference:
                    out.append(
                        f"{r.received_at:.3f} {r.action} {r.status} {json.dumps(r.body)[:200]}"
                    )
            needles = [conference, *_flat(ids), *ids]
            out += ["--- Redis commands naming it", *watch.story(needles)]
            out += ["--- worker log lines naming it"]
            for worker in cluster.workers:
                out += [line for line in worker.output().splitlines() if conference in line][-80:]
    finally:
        client.close()
    for worker in cluster.workers:
        out += [f"--- worker {worker.pid} log tail", *worker.output().splitlines()[-60:]]
    if cluster.sentinel is not None:
        out += server_logs(cluster.sentinel.servers, cluster.sentinel.sentinel_ports)
    return "\n".join(out)


def _ids(events: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Event id -> the action ids (task ids) of its follow-ups, and its inline drain id."""
    ids: dict[str, list[str]] = {}
    for event in events:
        data = Envelope.model_validate(event).data
        event_id = str(event["data"]["id"])
        ids[event_id] = [
            followup_task_id(event_id, f.key) for f in plan(data, default_rules(Policy()))
        ] + [inline_drain_id(event_id)]
    return ids


def _flat(ids: Mapping[str, list[str]]) -> list[str]:
    return [i for values in ids.values() for i in values]
