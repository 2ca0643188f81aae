"""The timeline command's verdicts from a conference's entries (workers/timeline_cli.py), on a
real Redis for the ledger's records it falls back on."""

from __future__ import annotations

import redis

from records.ledger import done_key
from records.timeline import Timeline
from workers.timeline_cli import describe, judge


def _planned(*ids: str) -> dict[str, object]:
    return {"t": 1, "kind": "planned",
            "actions": [{"id": i, "action": "conference.speak", "rule": "built-in"} for i in ids]}  # fmt: skip


def _verdicts(entries: list[dict[str, object]], client: redis.Redis) -> dict[str, str]:
    return {v.action_id: v.verdict for v in judge(entries, Timeline(client))}


def test_a_command_s_outcome_is_every_covered_action_s(redis_client: redis.Redis) -> None:
    entries = [
        _planned("a", "b", "c", "d"),
        {"t": 2, "kind": "merged", "batch": "ab", "actions": ["a", "b"]},
        {"t": 3, "kind": "sent", "batch": "ab", "actions": ["a", "b"], "request_id": "r"},
        {"t": 4, "kind": "dropped", "outcome": "moot", "why": "left", "actions": ["c"]},
        {"t": 5, "kind": "attempt_failed", "batch": "d", "actions": ["d"], "attempt": 1,
         "status": 503},
    ]  # fmt: skip
    assert _verdicts(entries, redis_client) == {
        "a": "done", "b": "done", "c": "moot", "d": "pending",
    }  # fmt: skip
    [*_, d] = judge(entries, Timeline(redis_client))
    assert d.why == "attempt 1 failed (HTTP 503), retrying"


def test_a_replay_of_a_merged_letter_settles_the_actions_it_covered(
    redis_client: redis.Redis,
) -> None:
    entries = [
        _planned("a", "b"),
        {"t": 2, "kind": "dead_letter", "batch": "ab", "actions": ["a", "b"], "reason": "rejected",
         "status": 403, "codes": ["10010"]},
        {"t": 3, "kind": "replay", "outcome": "replayed", "batch": "ab"},
    ]  # fmt: skip
    assert _verdicts(entries, redis_client) == {"a": "pending", "b": "pending"}
    entries.append({"t": 4, "kind": "sent", "batch": "ab", "actions": ["ab"]})
    assert _verdicts(entries, redis_client) == {"a": "done", "b": "done"}


def test_without_an_outcome_entry_the_ledger_says_it(redis_client: redis.Redis) -> None:
    # (An outcome whose entry is gone: a lost run's acceptance, or a capped timeline.)
    redis_client.set(done_key("a"), "1")
    assert _verdicts([_planned("a", "b")], redis_client) == {"a": "done", "b": "pending"}


def test_a_dead_letter_the_ledger_has_settled_since_reads_as_the_ledger_says(
    redis_client: redis.Redis,
) -> None:
    # A letter withdrawn by a lost run's acceptance (no entry), and a dropped one whose replay
    # came to moot (its entry names the batch only)
    entries = [
        _planned("a", "c"),
        {"t": 2, "kind": "dead_letter", "batch": "a", "actions": ["a"], "reason": "outcome_unknown"},
        {"t": 3, "kind": "dropped", "outcome": "expired", "why": "too old", "actions": ["c"]},
        {"t": 4, "kind": "replay", "outcome": "moot", "batch": "c"},
    ]  # fmt: skip
    assert _verdicts(entries, redis_client) == {"a": "dead-lettered", "c": "dead-lettered"}
    redis_client.set(done_key("a"), "1")
    redis_client.set(done_key("c"), "moot")
    assert _verdicts(entries, redis_client) == {"a": "done", "c": "moot"}


def test_caller_data_is_shown_only_when_the_entry_has_it() -> None:
    entry = {"t": 1, "kind": "planned", "event_id": "e", "caller": {"names": ["Ada Lovelace"]}}
    assert "Ada Lovelace" in describe(entry)
    assert "Ada Lovelace" not in describe({k: v for k, v in entry.items() if k != "caller"})
