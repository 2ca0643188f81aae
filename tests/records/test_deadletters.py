from __future__ import annotations

import base64
import dataclasses
import json
import time

import pytest
import redis

from core.naming import QUEUE
from records.deadletters import DeadLetter, DeadLetters
from records.journal import Journal
from workers.cli import main

# An hour ago: well inside the default time dead letters are kept.
RECENT = time.time() - 3600


def _letter(task_id: str, failed_at: float = 1.0) -> DeadLetter:
    """A letter that failed `failed_at` seconds after RECENT."""
    return DeadLetter(
        task_id=task_id,
        task="conference.speak",
        args=["conf", {"payload": "hi", "voice": "female"}, {"event_id": "e"}],
        reason="retries_exhausted",
        error="HTTP 503",
        status=503,
        codes=["503"],
        retries=10,
        event_id="e",
        failed_at=RECENT + failed_at,
    )


def test_add_list_show(redis_client: redis.Redis) -> None:
    store = DeadLetters(redis_client)
    store.add(_letter("b", 2.0))
    store.add(_letter("a", 1.0))
    assert [d.task_id for d in store.list()] == ["a", "b"]
    assert store.get("a") == _letter("a", 1.0)
    assert store.get("missing") is None


def test_replay_queues_the_task_again_and_removes_the_letter(redis_client: redis.Redis) -> None:
    store = DeadLetters(redis_client)
    store.add(_letter("a"))
    assert store.replay("a")
    assert store.count() == 0
    assert not store.replay("a")
    [raw] = redis_client.lrange(QUEUE, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "conference.speak"
    assert message["headers"]["id"] == "a"
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    assert args == _letter("a").args
    assert Journal(redis_client).pending() == 1


def test_purge(redis_client: redis.Redis) -> None:
    store = DeadLetters(redis_client)
    for task_id in "abc":
        store.add(_letter(task_id))
    assert store.purge("a") == 1
    assert store.purge("a") == 0
    assert store.purge() == 2
    assert store.count() == 0


@pytest.fixture
def cli_env(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> DeadLetters:
    monkeypatch.setenv("REDIS_URL", redis_url)
    return DeadLetters(redis_client)


def test_cli_lists_shows_replays_purges(
    cli_env: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    for task_id in ("a", "b", "c"):
        cli_env.add(_letter(task_id))
    assert main(["dead-letters", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["task_id"] for d in listed] == ["a", "b", "c"]
    assert listed[0]["reason"] == "retries_exhausted"
    assert main(["dead-letters", "show", "a"]) == 0
    assert json.loads(capsys.readouterr().out)["args"][0] == "conf"
    assert main(["dead-letters", "replay", "a"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["replayed"] == ["a"]
    assert replayed["summary"] == {"replayed": 1, "already_done": 0, "moot": 0, "not_found": 0}
    assert main(["dead-letters", "replay", "nope"]) == 1
    capsys.readouterr()
    assert main(["dead-letters", "purge", "--all"]) == 0
    assert json.loads(capsys.readouterr().out) == {"purged": 2}


def test_cli_says_when_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sandbox.redis_server import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert main(["dead-letters", "list"]) == 1
    assert "Redis unavailable" in capsys.readouterr().err


def test_letters_expire_after_their_time(redis_client: redis.Redis) -> None:
    # Given letters kept for a day, one failed two days ago and one an hour ago
    store = DeadLetters(redis_client, ttl_seconds=86400)
    now = time.time()
    old = dataclasses.replace(_letter("old"), failed_at=now - 2 * 86400)
    fresh = dataclasses.replace(_letter("fresh"), failed_at=now - 3600)
    for letter in (old, fresh):
        redis_client.hset("tcw:dead", letter.task_id, letter.to_json())
        redis_client.zadd("tcw:dead:index", {letter.task_id: letter.failed_at})
    # Then the old one is gone from every view, and from Redis, caller data and all
    assert store.get("old") is None
    assert [d.task_id for d in store.list()] == ["fresh"]
    assert redis_client.hget("tcw:dead", "old") is None
    assert store.expires_at(fresh) == pytest.approx(now - 3600 + 86400)
    # And adding a letter also clears what has expired since
    redis_client.hset("tcw:dead", "older", old.to_json())
    redis_client.zadd("tcw:dead:index", {"older": old.failed_at})
    store.add(_letter("new"))
    assert redis_client.hget("tcw:dead", "older") is None


def test_the_cli_lists_age_and_expiry(
    redis_url: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEAD_LETTER_TTL_SECONDS", "86400")
    letter = dataclasses.replace(_letter("a"), failed_at=time.time() - 3600)
    DeadLetters(redis_client).add(letter)
    assert main(["dead-letters", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["age_seconds"] == pytest.approx(3600, abs=60)
    assert listed["expires_in_seconds"] == pytest.approx(86400 - 3600, abs=60)


def test_a_letter_a_later_version_wrote_still_reads() -> None:
    raw = json.loads(_letter("a").to_json()) | {"a_later_field": 1}
    assert DeadLetter.from_json(json.dumps(raw)) == _letter("a")
