"""docker-compose.yml: valid for `docker compose` where the plugin is installed, and the
structure this project relies on in any case."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import WorkerSettings, load_settings
from tests.deploy.test_gunicorn_conf import effective_config
from workers.flower import auth_problem

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
ENV = {"TELNYX_API_KEY": "k", "TELNYX_PUBLIC_KEY": "p", "FLOWER_BASIC_AUTH": "ops:longenough"}


def _compose_plugin() -> bool:
    if not shutil.which("docker"):
        return False
    return (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


@pytest.mark.skipif(not _compose_plugin(), reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={**os.environ, **ENV}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_every_process_and_a_persistent_redis(services: dict[str, Any]) -> None:
    assert set(services) == {
        "redis", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3",
        "release", "web", "worker", "flower", "api",
    }  # fmt: skip
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "--maxmemory-policy noeviction" in redis_command
    assert services["redis"]["volumes"]


def test_one_image_for_all_our_processes(services: dict[str, Any]) -> None:
    ours = [s for s in services.values() if not s.get("image", "").startswith("redis:")]
    assert {s["image"] for s in ours} == {"telnyx-conference-worker"}


def test_health_checks_on_every_long_running_service(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name != "release":  # a one-shot: it exits once the check is done
            assert service.get("healthcheck", {}).get("test"), name


def test_the_worker_shuts_down_softly(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "REMAP_SIGTERM=SIGQUIT" in " ".join(worker["command"])
    assert worker["stop_grace_period"] == "30s"


def _seconds(value: str) -> float:
    assert value.endswith("s"), value
    return float(value[:-1])


def test_grace_periods_cover_the_processes_own_timeouts(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    soft = load_settings(WorkerSettings).worker_soft_shutdown_seconds
    assert _seconds(services["worker"]["stop_grace_period"]) > soft
    graceful = int(effective_config()["graceful_timeout"])
    assert _seconds(services["web"]["stop_grace_period"]) > graceful
    # The sandbox API stops on SIGTERM itself (tests/sandbox), with an init process besides
    assert services["api"]["init"] is True


def test_our_processes_run_on_a_read_only_root(services: dict[str, Any]) -> None:
    for name in ("release", "web", "worker", "flower", "api"):
        assert services[name]["read_only"] is True, name
        assert services[name]["tmpfs"] == ["/tmp"], name  # noqa: S108 - a tmpfs mount


def test_the_worker_healthcheck_asks_its_own_worker(services: dict[str, Any]) -> None:
    test = services["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "conference-worker", "health"]


def test_secrets_come_from_the_environment_and_only_running_needs_them(
    services: dict[str, Any],
) -> None:
    text = COMPOSE.read_text()
    # No ${VAR:?} anywhere: `build` and `config` work without the runtime secrets ...
    assert ":?" not in text
    assert services["web"]["environment"]["TELNYX_API_KEY"] == "${TELNYX_API_KEY:-}"
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    assert "TELNYX_API_KEY" not in services["flower"]["environment"]
    # ... and running refuses without them: the release check (which web, worker and Flower
    # wait for) fails on an empty key, and Flower will not start without its auth
    release = " ".join(services["release"]["command"])
    assert "ingest.check && conference-worker check" in release
    assert services["worker"]["depends_on"]["release"] == {
        "condition": "service_completed_successfully"
    }
    assert auth_problem("") is not None


def test_the_ha_profile_adds_a_replica_and_three_sentinels(services: dict[str, Any]) -> None:
    ha = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert ha == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert "--replicaof redis 6379" in " ".join(services["redis-replica"]["command"])
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][-1]
        assert "sentinel monitor primary redis 6379 2" in script
        assert "--sentinel" in script
    # The processes follow the Sentinels when the variables name them
    web = services["web"]["environment"]
    assert web["REDIS_SENTINELS"] == "${REDIS_SENTINELS:-}"
    assert web["REDIS_MIN_REPLICAS"] == "${REDIS_MIN_REPLICAS:-0}"
