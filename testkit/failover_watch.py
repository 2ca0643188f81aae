"""What happened during a Redis failover, for explaining a lost or doubled command: every
command each Redis server executed (MONITOR on each, from the start, again after a restart),
which process sent it, and each server's role over time.

Test tooling only: MONITOR slows a server a little and this keeps every command in memory,
which is fine for the test suite's and the reliability report's few thousand events.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import redis

from records.replies import text
from sandbox.redis_server import RedisServer
from testkit.processes import ManagedProcess


@dataclass(frozen=True)
class Seen:
    """One command a server executed: when (the server's clock), which server, from where."""

    at: float
    server: int  # the server's port
    client: str  # "127.0.0.1:54321", or "lua" for a command a script ran
    command: str


@dataclass(frozen=True)
class Role:
    at: float  # time.time()
    server: int
    role: str  # master, slave, or "down"
    master: int | None  # for a replica, its primary's port


class FailoverWatch:
    """Start before the fault, stop after the work is quiet; `story` explains one conference."""

    def __init__(self, servers: Iterable[RedisServer]) -> None:
        self._servers = list(servers)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self.roles: list[Role] = []
        # client "host:port" -> who owns that socket ("worker 1234", "web 99", "test", ...).
        self._owners: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._processes: dict[int, str] = {os.getpid(): "test"}

    def name_processes(self, processes: dict[str, ManagedProcess]) -> None:
        """Label the sockets of these process groups by name (a worker's pool, the web)."""
        self._processes.update({p.pid: name for name, p in processes.items()})

    def start(self) -> FailoverWatch:
        for server in self._servers:
            self._spawn(self._monitor, server)
        self._spawn(self._sample)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _monitor(self, server: RedisServer) -> None:
        """MONITOR `server`, again whenever it comes back (killed and restarted, say)."""
        while not self._stop.is_set():
            client = redis.Redis(port=server.port, socket_timeout=0.5, socket_connect_timeout=0.5)
            try:
                with client.monitor() as monitor:  # type: ignore[no-untyped-call]
                    while not self._stop.is_set():
                        line = monitor.next_command()
                        where = (
                            "lua"
                            if line["client_type"] == "lua"
                            else f"{line['client_address']}:{line['client_port']}"
                        )
                        with self._lock:
                            self.seen.append(
                                Seen(float(line["time"]), server.port, where, line["command"])
                            )
            except (redis.RedisError, OSError, ValueError):
                self._stop.wait(0.02)  # the server is down or stalled: try again shortly
            finally:
                client.close()

    def _sample(self) -> None:
        """Each server's role, and which process holds each client socket, every 0.1 s."""
        last: dict[int, tuple[str, int | None]] = {}
        while not self._stop.is_set():
            for server in self._servers:
                role = _role(server.port)
                if last.get(server.port) != role:
                    last[server.port] = role
                    with self._lock:
                        self.roles.append(Role(time.time(), server.port, role[0], role[1]))
            self._learn_owners()
            self._stop.wait(0.1)  # sampling, not synchronising

    def _learn_owners(self) -> None:
        ports = {s.port for s in self._servers}
        for local, remote, pid in _sockets():
            if remote in ports and local not in self._owners:
                self._owners[local] = self._owner(pid)

    def _owner(self, pid: int) -> str:
        if _name(pid) == "sentinel":  # (the test's own children, but not its clients)
            return f"sentinel (pid {pid})"
        for ancestor in _ancestry(pid):
            if ancestor in self._processes:
                return f"{self._processes[ancestor]} (pid {pid})"
        return f"{_name(pid)} (pid {pid})"

    # --- reading what was seen ---------------------------------------------------------------
    def owner(self, client: str) -> str:
        if client == "lua":
            return "lua"
        if int(client.rpartition(":")[2]) in {s.port for s in self._servers}:
            return "replication"  # a replica's view of its primary's stream
        return self._owners.get(client, "?")

    def role_at(self, server: int, at: float) -> str:
        """The server's role at `at`, numbered by its changes (a restarted primary is a new
        "master" after a "down")."""
        role, number = "?", 0
        for change in self.roles:
            if change.server == server and change.at <= at:
                number += 1
                role = change.role if change.master is None else f"replica of {change.master}"
        return f"{role} #{number}"

    def story(self, needles: Iterable[str], limit: int = 400) -> list[str]:
        """Every command that names one of `needles` (a conference id, action ids), by time,
        with the server, its role then, and the process that sent it."""
        wanted = [n for n in needles if n]
        with self._lock:
            seen = sorted(self.seen, key=lambda s: s.at)
        lines = []
        for s in seen:
            if any(n in s.command for n in wanted):
                lines.append(
                    f"{s.at:.3f} :{s.server} [{self.role_at(s.server, s.at)}] "
                    f"{self.owner(s.client)} {s.client}: {s.command[:300]}"
                )
        return lines[-limit:]

    def clients_by_server(self) -> list[str]:
        """Per server and role, which processes sent it commands (sentinels and replication
        left out), and how many."""
        counts: dict[tuple[int, str, str], int] = {}
        with self._lock:
            seen = list(self.seen)
        for s in seen:
            owner = self.owner(s.client)
            if owner in ("lua", "replication") or "sentinel" in owner:
                continue
            key = (s.server, self.role_at(s.server, s.at), owner.split(" (")[0])
            counts[key] = counts.get(key, 0) + 1
        return [f":{k[0]} as {k[1]}: {k[2]} sent {n}" for k, n in sorted(counts.items())]

    def role_changes(self) -> list[str]:
        return [
            f"{r.at:.3f} :{r.server} {r.role}" + (f" of :{r.master}" if r.master else "")
            for r in self.roles
        ]

    def after_restart(self, server: int, since: float) -> list[str]:
        """Commands `server` ran from clients other than Sentinels and replication, after
        `since` (time.time()): who used a restarted primary, and for what."""
        with self._lock:
            seen = sorted(self.seen, key=lambda s: s.at)
        lines = []
        for s in seen:
            owner = self.owner(s.client)
            if s.server != server or s.at < since or "sentinel" in owner:
                continue
            if owner == "replication" or s.command.startswith(_CHATTER):
                continue
            lines.append(
                f"{s.at:.3f} [{self.role_at(s.server, s.at)}] {owner} {s.client}: {s.command[:200]}"
            )
        return lines


_USER = re.compile(r'users:\(\("(?P<name>[^"]*)",pid=(?P<pid>\d+)')


def _sockets() -> list[tuple[str, int, int]]:
    """Open TCP sockets on loopback as (local "host:port", remote port, pid), from `ss`."""
    try:
        listing = subprocess.run(
            ["ss", "-tnpH", "state", "established"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in listing.splitlines():
        fields = line.split()
        user = _USER.search(line)
        if len(fields) >= 4 and user:
            local, remote = fields[2], fields[3]
            found.append((local, int(remote.rpartition(":")[2]), int(user["pid"])))
    return found


def _ancestry(pid: int) -> list[int]:
    """`pid` and its parents, from /proc."""
    chain = [pid]
    while chain[-1] > 1 and len(chain) < 20:
        try:
            stat = Path(f"/proc/{chain[-1]}/stat").read_text()
        except OSError:
            break
        chain.append(int(stat.rpartition(")")[2].split()[1]))
    return chain


def _name(pid: int) -> str:
    try:
        if b"sentinel" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return "sentinel"
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


# Connection set-up and health checks (this watch's own among them), not work.
_CHATTER = ("PING", "INFO", "HELLO", "REPLCONF", "CLIENT", "MONITOR", "ROLE")


def _role(port: int) -> tuple[str, int | None]:
    client = redis.Redis(port=port, socket_timeout=0.3, socket_connect_timeout=0.3)
    try:
        info = client.info("replication")
        master = info.get("master_port")
        return str(info.get("role")), int(master) if master else None
    except (redis.RedisError, OSError):
        return "down", None
    finally:
        client.close()


def server_logs(servers: Iterable[RedisServer], sentinel_ports: Iterable[int]) -> list[str]:
    """The logs of the Redis servers (each says who made it a replica or a primary, and when)
    and of the Sentinels (their view of the failover: votes, epochs, conversions)."""
    lines: list[str] = []
    for server in servers:
        client = redis.Redis(port=server.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            home = Path(text(client.config_get("dir")["dir"]))
            lines += [f"--- redis-server :{server.port} log"]
            lines += (home / "redis.log").read_text(errors="replace").splitlines()
        except (redis.RedisError, OSError, KeyError) as exc:
            lines.append(f"--- redis-server :{server.port} log unreadable: {exc}")
        finally:
            client.close()
    listening = _listeners()
    folders: set[Path] = set()
    for port in sentinel_ports:
        try:
            # (A Sentinel works in its `dir`, beside its config and, here, its log.)
            folders.add(Path(f"/proc/{listening[port]}/cwd").resolve(strict=True))
        except (OSError, KeyError) as exc:
            lines.append(f"--- sentinel :{port} log unreadable: {exc}")
    for folder in sorted(folders):
        for log in sorted(folder.glob("sentinel-*.log")):
            lines += [f"--- {log.name}", *log.read_text(errors="replace").splitlines()]
    return lines


def _listeners() -> dict[int, int]:
    """Listening TCP port -> pid, from `ss`."""
    try:
        listing = subprocess.run(["ss", "-tlnpH"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in listing.splitlines():
        fields = line.split()
        user = _USER.search(line)
        if len(fields) >= 4 and user:
            found[int(fields[3].rpartition(":")[2])] = int(user["pid"])
    return found
