"""A Redis primary dies, the Sentinels promote its replica, and the dead server is started
again; then the Sentinels fail over a second time. Real redis-server processes and three
Sentinels. The second failover is forced here (SENTINEL FAILOVER); in
tests/faults/test_failover.py a loaded machine made one by itself (docs/reliability.md, "Redis
failover"), and it promoted the restarted server, empty, over the one that held everything."""

from __future__ import annotations

from typing import Any

import redis

from records.replies import text
from sandbox.redis_server import RedisServer, SentinelTopology
from testkit.harness import wait
from testkit.supervisor import restart_as_replica

ACKNOWLEDGED = "tcw:acknowledged"


def test_a_second_failover_keeps_what_the_promoted_replica_held() -> None:
    with SentinelTopology(replicas=1, sentinels=3) as topology:
        # Given a write the replica holds too (what REDIS_MIN_REPLICAS=1 waits for)
        old = topology.primary
        client = topology.client()
        client.set(ACKNOWLEDGED, "1")
        assert client.wait(1, 5000) == 1
        client.close()
        # and the primary killed, the replica promoted
        old.kill()
        promoted = topology.wait_for_promotion(old)
        # When the dead server is started again, as a supervisor does
        restart_as_replica(old, promoted)
        # and the Sentinels, which know it as a replica, fail over once more
        assert wait(lambda: _listed_as_replica(topology, old), 30)
        _sentinel(topology.sentinel_ports[0], "FAILOVER", topology.master)
        again = topology.wait_for_promotion(promoted)
        # Then the server they promoted holds what was written before the first failover
        assert again is old
        client = topology.client()
        try:
            assert client.get(ACKNOWLEDGED) == b"1"
        finally:
            client.close()


def _listed_as_replica(topology: SentinelTopology, server: RedisServer) -> bool:
    """Whether the first Sentinel lists `server` as a replica it may promote: reachable, with
    a priority (it reads the priority every 10 s)."""
    replicas = _sentinel(topology.sentinel_ports[0], "REPLICAS", topology.master) or []
    for replica in replicas:
        fields = {text(k): text(v) for k, v in dict(replica).items()}
        flags = fields.get("flags", "")
        if int(fields.get("port", 0)) == server.port:
            promotable = fields.get("slave-priority", "0") != "0"
            return promotable and "disconnected" not in flags and "s_down" not in flags
    return False


def _sentinel(port: int, *command: str) -> Any:
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        return client.execute_command("SENTINEL", *command)  # type: ignore[no-untyped-call]
    finally:
        client.close()
