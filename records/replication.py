"""Replica-acknowledged writes (REDIS_MIN_REPLICAS): Redis WAIT after the writes that matter.

Redis replicates asynchronously: a write the primary confirmed can be missing from the replica
that a failover promotes. WAIT blocks until the replicas have received everything written so
far on the same connection, or a timeout passes, and says how many did. The replication stream
is ordered, so a WAIT after a write also covers every write the primary made before it, on any
connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from records.scripts import Command, Script, pipelined, raise_errors, run_batch


class ReplicationShortfall(redis.ConnectionError):
    """The writes reached fewer replicas than required in time. A ConnectionError, so every
    caller treats it as Redis being unavailable: the web answers 503, a worker leaves the
    message unacknowledged and tries again."""


@dataclass(frozen=True)
class Replication:
    """How many replicas must confirm a write, and how long to wait for them."""

    replicas: int = 0
    timeout_seconds: float = 0.5

    @property
    def required(self) -> bool:
        return self.replicas > 0

    @property
    def waits(self) -> tuple[Command, ...]:
        """The WAIT to send after the writes (none when no replica is required)."""
        if self.required:
            return (("WAIT", self.replicas, int(self.timeout_seconds * 1000)),)
        return ()

    def check(self, acknowledged: Any) -> None:
        """Raise ReplicationShortfall unless WAIT's answer reaches the required count."""
        if self.required and int(acknowledged) < self.replicas:
            raise ReplicationShortfall(
                f"written to {int(acknowledged)} of {self.replicas} required replica(s) "
                f"within {self.timeout_seconds:g}s"
            )

    def run_script(
        self,
        client: redis.Redis,
        script: Script,
        keys: Mapping[str, Any],
        args: Mapping[str, Any],
    ) -> Any:
        """Run a Lua script and return its answer; when replicas are required, WAIT after it
        in the same round trip and raise ReplicationShortfall if they fall short."""
        if not self.required:
            return script.run(client, keys, args)
        answers = run_batch(pipelined(client), [(script, script.argv(keys, args))], self.waits)
        raise_errors(answers)
        self.check(answers[-1])
        return answers[0]

    def confirm(self, client: redis.Redis) -> None:
        """WAIT on `client`'s own connection (a single-connection client) and check it."""
        if self.required:
            self.check(
                client.execute_command("WAIT", self.replicas, int(self.timeout_seconds * 1000))  # type: ignore[no-untyped-call]
            )


# REDIS_MIN_REPLICAS=0: the primary's confirmation is enough.
PRIMARY_ONLY = Replication()
