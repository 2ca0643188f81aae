"""What a supervisor does when a Redis server of a Sentinel topology dies: start it again as a
replica of the primary the Sentinels name, and let them promote it only once it holds a copy.

The servers here keep nothing on disk (no AOF, no snapshots), as many replicated set-ups do. A
dead primary started again as it was configured comes back as an empty primary, and the
Sentinels, which list it as a replica of the promoted one from the moment they switch, take it
for a promotion candidate until they get round to reconfiguring it (about ten seconds). A
second failover in that window (the Sentinels' 1 s down-after, on a loaded machine, is enough:
docs/reliability.md, "Redis failover") promotes the empty server, and the replica that held
everything resyncs from it and is wiped. Redis's replication guide warns about exactly this: a
server without persistence must not come back by itself as a primary.
"""

from __future__ import annotations

import time

import redis

from sandbox.redis_server import RedisServer

# Redis's default: any replica may be promoted. 0: never (Sentinel skips it).
PROMOTABLE = 100


def restart_as_replica(server: RedisServer, primary: RedisServer, timeout: float = 30.0) -> None:
    """Start the dead `server` again as a replica of `primary` (the one the Sentinels promoted),
    and return once it holds a copy of it. Until then the Sentinels may not promote it: an empty
    or half-copied replica must not become the primary."""
    arguments = list(server.extra_args)
    for option in ("--replicaof", "--replica-priority"):
        if option in arguments:
            at = arguments.index(option)
            del arguments[at : at + (3 if option == "--replicaof" else 2)]
    server.extra_args = [
        *arguments,
        *("--replicaof", "127.0.0.1", str(primary.port)),
        *("--replica-priority", "0"),
    ]
    server.start()
    client = redis.Redis(port=server.port, socket_timeout=2, socket_connect_timeout=2)
    try:
        deadline = time.monotonic() + timeout
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis :{server.port} did not copy :{primary.port} in time")
            time.sleep(0.02)  # polling a condition under a deadline
        client.config_set("replica-priority", PROMOTABLE)
    finally:
        client.close()
