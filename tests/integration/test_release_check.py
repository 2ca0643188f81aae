"""The Procfile's release step: a bad configuration or an unreachable Redis stops the deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import CommonSettings
from records.preflight import Finding, memory_finding
from sandbox.api.http import FakeTelnyxServer
from sandbox.redis_server import RedisServer, free_port
from sandbox.signer import WebhookSigner
from testkit.processes import ROOT, procfile
from tests.conftest import service_env
from workers.preflight import check


def _release(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The release line run as a platform runs it: by a shell, from the project's root."""
    venv_bin = str(Path(sys.executable).parent)
    return subprocess.run(
        ["bash", "-c", procfile()["release"]],
        cwd=ROOT,
        env={**env, "PATH": f"{venv_bin}{os.pathsep}{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner) -> dict[str, str]:
    return service_env(redis_url, api, signer)


def test_a_sound_configuration_passes_and_says_what_it_checked(env: dict[str, str]) -> None:
    result = _release({**env, "RULES_FILE": str(ROOT / "examples" / "rules.toml")})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in ("ok      web settings", "ok      worker settings", "ok      rules: 7 rule(s)"):
        assert any(line.startswith(expected) for line in lines), result.stdout
    assert any(line.startswith("ok      redis: reachable") for line in lines)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"TELNYX_API_KEY": ""}, "error   worker settings: invalid configuration: TELNYX_API_KEY"),
        ({"TELNYX_PUBLIC_KEY": "not-base64!"}, "error   web settings: invalid configuration"),
        ({"REDIS_URL": "http://redis"}, "REDIS_URL must start with redis://"),
        ({"RULES_FILE": "{bad_rules}"}, "error   rules: "),
        ({"REDIS_URL": "redis://127.0.0.1:{dead_port}/0"}, "error   redis: not reachable"),
    ],
)
def test_each_problem_fails_the_release_with_its_name(
    env: dict[str, str], tmp_path: Path, change: dict[str, str], expected: str
) -> None:
    bad_rules = tmp_path / "rules.toml"
    bad_rules.write_text('[[rule]]\non = "conference.created"\naction = "conference.sing"\n')
    values = {"bad_rules": str(bad_rules), "dead_port": str(free_port())}
    result = _release({**env, **{k: v.format(**values) for k, v in change.items()}})
    assert result.returncode == 1
    assert expected in result.stdout, result.stdout
    if "RULES_FILE" in change:
        # The rules error names the file, the rule's line and the reason
        assert f"{bad_rules}:1: rule 1: unknown action 'conference.sing'" in result.stdout


@pytest.fixture
def lru_redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--maxmemory-policy", "allkeys-lru"]) as server:
        yield server


@pytest.fixture
def hosted_redis() -> Iterator[RedisServer]:
    """CONFIG renamed away, as several hosted Redis services do."""
    with RedisServer(persistent=True, extra_args=["--rename-command", "CONFIG", ""]) as server:
        yield server


def _durability(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.subject == "redis durability"]


def test_an_evicting_redis_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, lru_redis: RedisServer
) -> None:
    monkeypatch.setenv("REDIS_URL", lru_redis.url)
    findings = _durability(check())
    assert [f.level for f in findings] == ["warning", "warning", "warning"]
    assert "maxmemory-policy is allkeys-lru" in findings[0].detail
    assert "neither AOF nor snapshots" in findings[1].detail
    assert "appendonly no, appendfsync everysec and REDIS_MIN_REPLICAS 0" in findings[2].detail


def test_a_redis_that_fsyncs_every_second_without_replicas_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "everysec"]) as everysec,
        RedisServer(persistent=True) as always,
    ):
        monkeypatch.setenv("REDIS_URL", everysec.url)
        [finding] = _durability(check())
        assert finding.level == "warning"
        assert "appendfsync everysec" in finding.detail
        assert "announced twice" in finding.detail
        # fsync on every write: nothing to warn about
        monkeypatch.setenv("REDIS_URL", always.url)
        assert [f.level for f in _durability(check())] == ["ok"]


def test_a_redis_that_hides_config_gets_a_reminder_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, hosted_redis: RedisServer
) -> None:
    monkeypatch.setenv("REDIS_URL", hosted_redis.url)
    [finding] = _durability(check())
    assert finding.level == "warning"
    assert "CONFIG is not allowed" in finding.detail


def test_flowers_auth_is_checked_when_asked(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:short")
    [flower] = [f for f in check(flower=True) if f.subject == "flower"]
    assert flower.level == "error"
    assert "8 characters" in flower.detail
    assert not [f for f in check() if f.subject == "flower"]


def test_the_memory_per_event_it_expects_is_reported_with_what_maxmemory_carries(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    # Given a Redis of 250 MB, the default retention, timelines off
    monkeypatch.setenv("REDIS_URL", redis_url)
    [finding] = [f for f in check() if f.subject == "redis memory"]
    assert finding.detail.startswith("expects 136 bytes per event for 48 h")
    limit = {"maxmemory": 250 * 1024**2, "used_memory": 2 * 1024**2}
    # Then it says what that carries, and what a day of timelines would leave of it
    settings = CommonSettings()
    assert memory_finding(settings, limit).detail.endswith(
        "carries 8.8 more events/s sustained to 80%"
    )
    timelines = CommonSettings(timeline_retention_hours=24)
    found = memory_finding(timelines, limit)
    assert "and 1480 for 24 h (timelines)" in found.detail
    assert found.detail.endswith("carries 1.4 more events/s sustained to 80%")
