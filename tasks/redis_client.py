"""A Redis client from the settings, with their TLS options: for the worker and operator tools.

(The web process's publisher opens its own, with the tighter timeouts a webhook answer needs.)
"""

from __future__ import annotations

from typing import Any

import redis

from tasks.settings import CommonSettings


def redis_client(settings: CommonSettings, **options: Any) -> redis.Redis:
    """A client that gives up on an unreachable Redis after 5 s; `options` add to redis-py's."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=5,
        socket_connect_timeout=5,
        **settings.redis_options,
        **options,
    )
