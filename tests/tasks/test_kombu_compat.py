from __future__ import annotations

from types import SimpleNamespace

import pytest
import redis
from kombu.transport import redis as kombu_redis

from workers import kombu_compat


@pytest.mark.parametrize(
    "connection", [None, SimpleNamespace(client=None)], ids=["no connection", "no client"]
)
def test_a_channel_whose_connection_is_gone_raises_a_connection_error(connection: object) -> None:
    kombu_compat.install()
    kombu_compat.install()  # idempotent
    channel = SimpleNamespace(connection=connection)
    with pytest.raises(redis.ConnectionError, match="closed"):
        kombu_redis.Channel._connparams(channel)  # type: ignore[arg-type]


def test_a_live_channel_is_untouched(redis_url: str) -> None:
    from kombu import Connection

    kombu_compat.install()
    with Connection(redis_url) as connection:
        channel = connection.channel()
        params = channel._connparams()
        assert params["port"] == int(redis_url.rsplit(":", 1)[1].split("/")[0])
        channel.close()


def test_a_channel_reuses_one_client_over_its_pool(redis_url: str) -> None:
    from kombu import Connection

    kombu_compat.install()
    with Connection(redis_url) as connection:
        channel = connection.channel()
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool
            assert first.ping()
        # A client passed in is used as it is
        given = redis.Redis.from_url(redis_url)
        with channel.conn_or_acquire(given) as used:
            assert used is given
        given.close()
        # ... and a new pool (after a reconnection) gets a new client
        channel._pool = None
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
        channel.close()
