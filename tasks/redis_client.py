"""A Redis client from the settings, with their TLS options: for the worker and operator tools.

(The web process's publisher opens its own, with the tighter timeouts a webhook answer needs.)
"""

from __future__ import annotations

from typing import Any

import redis

from tasks.settings import CommonSettings


def redis_client(
    settings: CommonSettings, *, max_connections: int | None = None, **options: Any
) -> redis.Redis:
    """A client that gives up on an unreachable Redis after 5 s; `options` add to redis-py's.

    With `max_connections`, the client's threads share at most that many connections (waiting
    up to 5 s for one), so a process's share of a hosted Redis plan's connection cap does not
    grow with its thread count.
    """
    arguments: dict[str, Any] = {
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        **settings.redis_options,
        **options,
    }
    if max_connections is None:
        return redis.Redis.from_url(settings.redis_url, **arguments)
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=max_connections, timeout=5, **arguments
    )
    return redis.Redis.from_pool(pool)
