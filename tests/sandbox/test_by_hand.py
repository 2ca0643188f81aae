"""The by-hand path as a newcomer meets it: the sandbox commands run as subprocesses, through a
shell where the README says to `eval` them, and the README's by-hand steps run as written."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from sandbox.redis_server import RedisServer, free_port
from sandbox.signer import WebhookSigner
from testkit.processes import ROOT

BIN = Path(sys.executable).parent
SANDBOX = str(BIN / "telnyx-sandbox")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "REDIS_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def _shell(script: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_eval_of_keygen_exports_a_matching_pair() -> None:
    result = _shell(
        'eval "$(telnyx-sandbox keygen)"\n'
        # (a child process sees only what was exported)
        'python -c \'import os; print(os.environ["TELNYX_SANDBOX_SEED"]); '
        'print(os.environ["TELNYX_PUBLIC_KEY"])\''
    )
    assert result.returncode == 0, result.stderr
    seed, public_key = result.stdout.split()
    assert WebhookSigner(base64.b64decode(seed)).public_key == public_key


def test_keygen_for_an_env_file() -> None:
    result = _shell("telnyx-sandbox keygen --format env")
    assert result.returncode == 0, result.stderr
    names = [line.split("=", 1)[0] for line in result.stdout.splitlines()]
    assert names == ["TELNYX_SANDBOX_SEED", "TELNYX_PUBLIC_KEY"]
    assert "export" not in result.stdout


def _url_of(output: str) -> str:
    [url] = re.findall(r"^export REDIS_URL=(redis://127\.0\.0\.1:\d+/0)$", output, re.M)
    return url


def test_a_private_redis_detached_then_stopped(tmp_path: Path) -> None:
    # Given a machine where a Redis already listens on 6379 (started here if none does)
    with _redis_on_6379():
        # When the sandbox's Redis starts, detached
        result = _shell(
            f'eval "$(telnyx-sandbox redis --detach --dir {tmp_path})"; echo $REDIS_URL'
        )
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip().splitlines()[-1]
        # Then it is a private one on another port, exported, and answering
        assert url == (tmp_path / "redis.url").read_text().strip()
        assert ":6379/" not in url
        client = redis.Redis.from_url(url)
        assert client.info("server")["process_id"] == int((tmp_path / "redis.pid").read_text())
        # ... asked again while it runs, it gives the same URL
        again = _shell(f"telnyx-sandbox redis --detach --dir {tmp_path}")
        assert _url_of(again.stdout) == url
        # ... and --stop stops it
        assert _shell(f"telnyx-sandbox redis --stop --dir {tmp_path}").returncode == 0
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert not (tmp_path / "redis.pid").exists()
        client.close()


def test_a_private_redis_in_the_foreground_stops_with_ctrl_c(tmp_path: Path) -> None:
    with subprocess.Popen(
        [SANDBOX, "redis", "--dir", str(tmp_path)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            url = _url_of(process.stdout.readline())
            client = redis.Redis.from_url(url)
            assert client.ping()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()
        assert not (tmp_path / "redis.pid").exists()


def test_a_port_already_taken_is_refused_not_shared(tmp_path: Path) -> None:
    with _redis_on_6379():
        result = _shell(f"telnyx-sandbox redis --detach --port 6379 --dir {tmp_path}")
    assert result.returncode == 1
    assert "did not start" in result.stderr
    assert "REDIS_URL" not in result.stdout


def test_the_sandbox_api_stops_on_sigterm() -> None:
    port = free_port()
    with subprocess.Popen(
        [SANDBOX, "api", "--port", str(port), "--quiet"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            assert "Telnyx-compatible API" in process.stdout.readline()
            assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/faults").status_code == 200
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert process.wait(timeout=5) == 0
            # (as PID 1 of a container, without a handler it would wait for SIGKILL)
            assert time.monotonic() - started < 2
        finally:
            process.kill()


@pytest.fixture
def by_hand_script() -> str:
    """The README's by-hand blocks, as one script, on free ports instead of 8000 and 8090."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- by-hand: start -->", 1)[1].split("<!-- by-hand: end -->", 1)[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))
    web = _free_block()
    api = free_port()
    return (
        script.replace("8090", str(api)).replace("8000", str(web)).replace("8200", str(web + 200))
    )


def _free_block() -> int:
    """A port P with P, P+100 and P+200 free (honcho gives web, worker and Flower those)."""
    for _ in range(50):
        port = free_port()
        if port + 200 < 65536 and all(_free(port + n) for n in (100, 200)):
            return port
    raise AssertionError("no free block of ports")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_readmes_by_hand_steps_run_as_written(by_hand_script: str) -> None:
    # Given a machine that already runs a Redis on 6379
    with _redis_on_6379() as existing:
        before = existing.ours()
        # When the README's steps run, pasted into one shell
        with subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", by_hand_script],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        ) as process:  # fmt: skip
            try:
                output, _ = process.communicate(timeout=180)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                subprocess.run([SANDBOX, "redis", "--stop"], cwd=ROOT, env=_env(), check=False,
                               capture_output=True)  # fmt: skip
        # Then every step worked, and the machine's own Redis was left alone
        assert process.returncode == 0, output[-3000:]
        assert existing.ours() == before
    # The sends and the scenario said which conference and events they used
    assert "conference demo" in output
    [scenario] = re.findall(r"^conference ([0-9a-f-]{36})$", output, re.M)
    # The local API printed the commands: the demo's recording and Alice's announcement, and
    # the scenario's
    assert re.search(r"200 POST /v2/conferences/demo/actions/record_start", output)
    assert "Alice Martin has joined the conference." in output
    assert f"/v2/conferences/{scenario}/actions/record_start" in output
    # The metrics counted them
    sent = r'telnyx_actions_total\{[^}]*"conference\.record_start"[^}]*"sent"[^}]*\} 2$'
    assert re.search(sent, output, re.M), output[-3000:]


class _Existing:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def ours(self) -> int:
        """How many keys of this project's the machine's Redis holds."""
        return sum(1 for _ in self.client.scan_iter("tcw:*"))


class _redis_on_6379:
    """A Redis on 6379 for the length of the block: the machine's own if one listens there,
    else one started here."""

    def __enter__(self) -> _Existing:
        self.server = None if not _free(6379) else RedisServer(port=6379).start()
        self.client = redis.Redis(port=6379)
        return _Existing(self.client)

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        if self.server is not None:
            self.server.close()
