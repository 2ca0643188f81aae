"""gunicorn.conf.py: the web process's settings, as gunicorn itself reads them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from sandbox.api.http import FakeTelnyxServer
from sandbox.redis_server import free_port
from sandbox.signer import WebhookSigner
from testkit.processes import ROOT, procfile, start_web
from tests.conftest import SIGNING_SEED, service_env


def effective_config(**env: str) -> dict[str, str]:
    """gunicorn's own view of the Procfile's web line (it loads the app too: preload)."""
    env = {"TELNYX_PUBLIC_KEY": WebhookSigner(SIGNING_SEED).public_key, **env}
    program, *arguments = procfile()["web"].split()
    result = subprocess.run(
        [str(Path(sys.executable).parent / program), *arguments, "--print-config"],
        env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            settings[name.strip()] = value.strip()
    return settings


def test_the_platform_sets_port_and_concurrency() -> None:
    settings = effective_config(PORT="4321", WEB_CONCURRENCY="3")
    # Both IPv6 and IPv4, on the platform's port
    assert settings["bind"] == "['[::]:4321']"
    assert settings["workers"] == "3"


def test_settings_for_a_platform_router() -> None:
    settings = effective_config(PORT="8000")
    # A connection waiting on a slow client costs a greenlet, not a worker
    assert settings["worker_class"] == "gevent"
    assert settings["preload_app"] == "True"
    # Requests in flight finish before the platform's SIGKILL at 30 s
    assert int(settings["graceful_timeout"]) < 30
    # The router (90 s idle timeout on Heroku) closes idle connections, never gunicorn
    assert int(settings["keepalive"]) > 90
    assert "%({x-request-id}i)s" in settings["access_log_format"]
    assert settings["limit_request_line"] == "4094"
    assert settings["limit_request_fields"] == "100"


def test_the_access_log_carries_the_routers_request_id(
    redis_url: str, api: FakeTelnyxServer, signer: WebhookSigner
) -> None:
    port = free_port()
    process = start_web(service_env(redis_url, api, signer), port)
    request_id = str(uuid.uuid4())
    try:
        # Over IPv6: the bind is dual-stack
        response = httpx.get(
            f"http://[::1]:{port}/healthz", headers={"X-Request-Id": request_id}, timeout=5
        )
        assert response.status_code == 200
        process.wait_until(lambda: f"request_id={request_id}" in process.output(), timeout=10)
    finally:
        process.stop()
    line = next(x for x in process.output().splitlines() if request_id in x)
    assert 'method=GET path="/healthz" status=200' in line
    # The start-up line names the address (each worker binds its own socket: SO_REUSEPORT)
    [listening] = [x for x in process.output().splitlines() if "Listening at:" in x]
    assert f"Listening at: http://[::]:{port} (" in listening
