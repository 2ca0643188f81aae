"""Starting and stopping the project's own processes (web, worker) for the demo and tests.

The commands come from the Procfile, so what runs here is what a PaaS runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """Process type -> command line."""
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class ManagedProcess:
    """A child in its own process group, output to a log file, stopped on exit.

    The log is removed once this object is gone (or the interpreter exits): a benchmark
    starts hundreds of these, and a web process's access log runs to megabytes."""

    def __init__(
        self,
        name: str,
        command: str,
        env: Mapping[str, str],
        *,
        bin_dir: Path = Path(sys.executable).parent,
    ) -> None:
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        weakref.finalize(self, self.log.unlink, missing_ok=True)
        # The venv's bin first (this interpreter's unless `bin_dir` names another), so
        # `python`, `gunicorn` and `celery` resolve to the installation under test.
        path = f"{bin_dir}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=ROOT,
                env={**env, "PATH": path},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready in {timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.05)  # polling a condition under a deadline

    def signal_group(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the group, as a platform does; SIGKILL what is left after `timeout`."""
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


def start_worker(env: Mapping[str, str], timeout: float = 60.0) -> ManagedProcess:
    worker = ManagedProcess("worker", procfile()["worker"], env)
    worker.wait_until(lambda: " ready." in worker.output(), timeout)
    return worker


def start_web(env: Mapping[str, str], port: int, timeout: float = 30.0) -> ManagedProcess:
    web = ManagedProcess("web", procfile()["web"], {**env, "PORT": str(port)})
    url = f"http://127.0.0.1:{port}/healthz"

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    web.wait_until(up, timeout)
    return web
