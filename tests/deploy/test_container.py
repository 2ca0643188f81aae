"""The image, for real: built with podman from the Dockerfile (on the stand-in base that
scripts/container-base makes), and every process started from it as docker-compose.yml starts
it, with a read-only root filesystem and host networking, against a Redis and the sandbox API
on this machine.

Skipped only where podman is not installed (.ci/run installs it from Debian where it can).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.api.http import FakeTelnyxServer
from sandbox.events import encode
from sandbox.redis_server import RedisServer, free_port
from sandbox.scenario import NAMES, scenario
from sandbox.signer import WebhookSigner
from testkit.announcements import announced
from testkit.harness import wait
from testkit.processes import ROOT, procfile
from testkit.scenarios import conference_burst
from tests.conftest import API_KEY

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(
    PODMAN is None, reason="podman is not installed here, so the image cannot be built or run"
)
# (A tag of this run's own: another run on this machine removes only its own image.)
TAG = f"telnyx-conference-worker:test-{uuid.uuid4().hex[:8]}"
FLOWER_AUTH = ("ops", "container-test")
# The host's CA bundle, given to the build as its extra CA (README, "Containers"): the way
# through a TLS-inspecting proxy, and harmless without one.
HOST_CA = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """podman's settings here: runc with cgroupfs, and ulimits no higher than this host's (a
    container may not raise them)."""
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    conf.write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        '\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PODMAN), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image(podman_env: dict[str, str]) -> Iterator[str]:
    base = subprocess.run(
        [str(ROOT / "scripts" / "container-base")],
        env=podman_env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert base.returncode == 0, base.stdout + base.stderr
    secret = ["--secret", f"id=ca,src={HOST_CA}"] if HOST_CA.exists() else []
    started = time.monotonic()
    build = podman(
        podman_env,
        "build", "--pull=never", "--network", "host", *secret, "-t", TAG, str(ROOT),
        timeout=1200,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    print(f"image built in {time.monotonic() - started:.0f}s")
    yield TAG
    podman(podman_env, "rmi", "--force", TAG)


class Container:
    """One process of the image, run as docker-compose.yml runs it: host network, read-only."""

    def __init__(
        self,
        env: dict[str, str],
        image: str,
        command: list[str],
        variables: dict[str, str],
        *,
        hostname: str | None = None,
    ) -> None:
        self.env = env
        self.name = f"tcw-test-{uuid.uuid4().hex[:8]}"
        options = ["--name", self.name, "--network", "host", "--read-only"]
        options += ["--hostname", hostname] if hostname else []
        for key, value in variables.items():
            options += ["--env", f"{key}={value}"]
        result = podman(env, "run", "--detach", *options, image, *command)
        assert result.returncode == 0, result.stderr

    def logs(self) -> str:
        result = podman(self.env, "logs", self.name)
        return result.stdout + result.stderr

    def state(self, field: str) -> str:
        return podman(
            self.env, "inspect", "--format", f"{{{{.State.{field}}}}}", self.name
        ).stdout.strip()

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman(self.env, "exec", self.name, *command)

    def remove(self) -> None:
        podman(self.env, "rm", "--force", "--time", "0", self.name)


def compose_command(service: str) -> list[str]:
    """The service's command in docker-compose.yml, with compose's `$$` unescaped."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return [part.replace("$$", "$") for part in services[service]["command"]]


@pytest.fixture(scope="module")
def stack(
    podman_env: dict[str, str], image: str, api_server: FakeTelnyxServer, signer: WebhookSigner
) -> Iterator[dict[str, Any]]:
    """Redis and the sandbox API on the host; release, web, a worker and Flower from the image."""
    redis_server = RedisServer(persistent=True).start()
    web_port, flower_port = free_port(), free_port()
    variables = {
        "REDIS_URL": redis_server.url,
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_API_BASE_URL": api_server.base_url,
        "TELNYX_PUBLIC_KEY": signer.public_key,
        "WORKER_CONCURRENCY": "8",
        "WEB_CONCURRENCY": "1",
        "RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "RETRY_BACKOFF_MAX_SECONDS": "0.5",
    }
    containers: list[Container] = []

    def run(service: str, hostname: str | None = None, **extra: str) -> Container:
        container = Container(
            podman_env, image, compose_command(service), {**variables, **extra}, hostname=hostname
        )
        containers.append(container)
        return container

    try:
        release = run("release")
        assert wait(lambda: release.state("Status") == "exited", 120), release.logs()
        assert release.state("ExitCode") == "0", release.logs()
        web = run("web", PORT=str(web_port))
        worker = run("worker", hostname="worker-a")
        flower = run("flower", PORT=str(flower_port), FLOWER_BASIC_AUTH=":".join(FLOWER_AUTH))
        web_url, flower_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{flower_port}"
        assert wait(lambda: _answers(f"{web_url}/readyz"), 60), web.logs()
        assert wait(lambda: _answers(f"{flower_url}/healthcheck"), 60), flower.logs()
        assert wait(lambda: "ready." in worker.logs(), 60), worker.logs()
        yield {
            "run": run,
            "web": web_url,
            "flower": flower_url,
            "worker": worker,
            "release": release,
            "variables": variables,
            "redis": redis_server,
        }
    finally:
        for container in containers:
            container.remove()
        redis_server.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _post(web: str, signer: WebhookSigner, events: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=10) as http:
        for event in events:
            body = encode(event)
            response = http.post(
                f"{web}/webhooks/telnyx", content=body, headers=signer.headers(body)
            )
            assert response.status_code == 200, response.text


def test_the_image_is_lean_runs_as_a_user_and_starts_the_web_line(
    podman_env: dict[str, str], image: str
) -> None:
    [config] = yaml.safe_load(podman(podman_env, "image", "inspect", image).stdout)
    assert config["Config"]["User"] == "10001"
    assert config["Config"]["Cmd"] == procfile()["web"].split()
    size_mb = int(config["Size"]) / 1e6
    print(f"image size {size_mb:.0f} MB")
    probe = podman(
        podman_env, "run", "--rm", "--read-only", "--network", "host", image, "sh", "-c",
        "id -u; for t in gcc cc c++ make pytest ruff mypy uv pip with-build-ca; do "
        "command -v $t; done; find / -xdev -name 'with-build-ca' -o -name 'build-ca.pem' "
        "2>/dev/null; python -c 'import pytest'",
    )  # fmt: skip
    lines = probe.stdout.split()
    # Non-root; no compiler, no test or build tools, nothing left of the build's extra CA
    assert lines[0] == "10001"
    assert lines[1:] == [], probe.stdout
    assert "No module named 'pytest'" in probe.stderr


def test_release_web_worker_and_flower_turn_a_signed_scenario_into_its_commands(
    stack: dict[str, Any], api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given the stack from the image (the release line passed, read-only root filesystem)
    assert "ok" in stack["release"].logs()
    # When a signed scenario is posted to the web container
    conference_id = str(uuid.uuid4())
    events, _ = scenario(conference_id)
    _post(stack["web"], signer, events)

    # Then the worker container sends its commands: the recording, then everyone announced
    def mine() -> list[Any]:
        return [r for r in api.state.commands() if r.target == conference_id and not r.duplicate]

    def announced_everyone() -> bool:
        said = announced(mine(), conference_id)
        return sorted(n for covered in said for n in covered.named) == sorted(NAMES)

    assert wait(announced_everyone, 60), [r.body for r in mine()]
    assert next(r.action for r in mine()) == "record_start"
    # ... and Flower, from the image too, shows the event tasks
    tasks = httpx.get(f"{stack['flower']}/api/tasks", auth=FLOWER_AUTH, timeout=10)
    assert tasks.status_code == 200


def test_the_worker_healthcheck_answers_for_its_own_worker_only(
    stack: dict[str, Any], podman_env: dict[str, str], image: str
) -> None:
    health = ["conference-worker", "health", "--timeout", "3"]
    # Its own worker answers, quickly
    started = time.monotonic()
    own = stack["worker"].exec(*health)
    assert own.returncode == 0, own.stdout + own.stderr
    assert "worker@worker-a: pong" in own.stdout
    assert time.monotonic() - started < 10
    # A container whose worker is gone fails, though worker-a is up on the same broker
    gone = podman(
        podman_env, "run", "--rm", "--read-only", "--network", "host", "--hostname", "worker-gone",
        "--env", f"REDIS_URL={stack['variables']['REDIS_URL']}", image, *health,
    )  # fmt: skip
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert "worker@worker-gone: no answer" in gone.stderr
    # ... and so does one whose worker hangs (stopped, as a wedged process is)
    hung = stack["run"]("worker", hostname="worker-hung")
    assert wait(lambda: "ready." in hung.logs(), 60), hung.logs()
    assert hung.exec(*health).returncode == 0
    pid = int(hung.state("Pid"))
    os.kill(pid, signal.SIGSTOP)
    try:
        stuck = hung.exec(*health)
        assert stuck.returncode == 1, stuck.stdout
    finally:
        os.kill(pid, signal.SIGCONT)
        hung.remove()


def test_sigterm_mid_backlog_the_worker_stops_in_its_grace_period_and_loses_nothing(
    stack: dict[str, Any], api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    # Given a backlog: 30 conferences created and joined twice each, the API slow to answer
    api.state.latency = 0.1
    events = conference_burst(30, 2)
    conferences = {e["data"]["payload"]["conference_id"] for e in events}
    _post(stack["web"], signer, events)

    def accepted() -> list[Any]:
        return [r for r in api.state.commands() if r.target in conferences and not r.duplicate]

    assert wait(lambda: len(accepted()) >= 10, 60)
    # When the platform stops the worker container (SIGTERM, then SIGKILL after the 30 s grace)
    worker = stack["worker"]
    started = time.monotonic()
    podman(worker.env, "stop", "--time", "30", worker.name, timeout=60)
    stopped_after = time.monotonic() - started
    # Then it exited by itself (a SIGKILL would be 137), inside the grace period
    assert worker.state("ExitCode") != "137", worker.logs()[-2000:]
    assert stopped_after < 30
    print(f"worker stopped {stopped_after:.1f}s after SIGTERM, {len(accepted())} commands sent")
    # ... and a new worker finishes the backlog: every recording once, every joiner once
    stack["run"]("worker", hostname="worker-next")

    def done() -> bool:
        return (
            Counter(r.action for r in accepted())["record_start"] == 30
            and len(_joiners(accepted())) == 60
        )

    assert wait(done, 120), Counter(r.action for r in accepted())
    records = Counter(r.target for r in accepted() if r.action == "record_start")
    assert set(records.values()) == {1}
    assert set(Counter(_joiners(accepted())).values()) == {1}


def _joiners(requests: list[Any]) -> list[str]:
    return [name for covered in announced(requests) for name in covered.named]
