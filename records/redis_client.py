"""Redis clients from the settings, for every process: one place that knows about TLS and
Redis Sentinel.

With REDIS_SENTINELS and REDIS_SENTINEL_MASTER set, every client asks the Sentinels which
server is the primary when it connects, and again when a connection fails, so after a
failover it reaches the promoted replica by itself. REDIS_URL then supplies only the
credentials, the database and the scheme (rediss:// for TLS to the Redis servers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

from core.settings import CommonSettings


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits for a free connection instead of opening more."""


def redis_client(
    settings: CommonSettings, *, max_connections: int | None = None, **options: Any
) -> redis.Redis:
    """A client that gives up on an unreachable Redis after 5 s; `options` add to redis-py's.

    With `max_connections`, the client's threads share at most that many connections (waiting
    up to 5 s for one), so a process's share of a hosted Redis plan's connection cap does not
    grow with its thread count.
    """
    arguments: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5, **options}
    if settings.redis_sentinels:
        pool_class: type[SentinelConnectionPool] = SentinelConnectionPool
        if max_connections is not None:
            pool_class = _BlockingSentinelPool
            arguments.update(max_connections=max_connections, timeout=5)
        client: redis.Redis = sentinel_manager(settings).master_for(  # type: ignore[no-untyped-call]
            str(settings.redis_sentinel_master), connection_pool_class=pool_class, **arguments
        )
        return client
    arguments.update(settings.redis_options)
    if max_connections is None:
        return redis.Redis.from_url(settings.redis_url, **arguments)
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=max_connections, timeout=5, **arguments
    )
    return redis.Redis.from_pool(pool)


def single_connection_factory(
    settings: CommonSettings, **options: Any
) -> Callable[[], redis.Redis]:
    """A function that opens one more single-connection client (the web's pool holds these)."""
    if settings.redis_sentinels:
        manager = sentinel_manager(settings)
        arguments = {**manager.connection_kwargs, **options}

        def connect_sentinel() -> redis.Redis:
            pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
                str(settings.redis_sentinel_master), manager, **arguments
            )
            return redis.Redis(connection_pool=pool, single_connection_client=True)

        return connect_sentinel

    def connect() -> redis.Redis:
        return redis.Redis.from_url(
            settings.redis_url,
            **settings.redis_options,
            **options,
            single_connection_client=True,
        )

    return connect


def sentinel_manager(settings: CommonSettings) -> Sentinel:
    """The Sentinels of the settings, and how to reach the servers they name."""
    return Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinel_nodes,
        sentinel_kwargs=settings.sentinel_kwargs,
        **server_credentials(settings),
    )


def server_credentials(settings: CommonSettings) -> dict[str, Any]:
    """Database, user, password and TLS options from REDIS_URL, as redis-py arguments."""
    parts = urlsplit(settings.redis_url)
    arguments: dict[str, Any] = {"db": int(parts.path.lstrip("/") or 0)}
    if parts.username:
        arguments["username"] = unquote(parts.username)
    if parts.password:
        arguments["password"] = unquote(parts.password)
    if settings.redis_tls is not None:
        arguments.update(ssl=True, **settings.redis_tls)
    return arguments
