"""The one factory for Redis clients: every part that talks to Redis gets its client here.

Three deployments of Redis (``gateway.yaml`` ``redis_mode``):

- ``single``: one server at ``redis_url``;
- ``cluster``: a Redis Cluster, ``redis_url`` naming any node; the keys of one location
  (``{location_id}``) and of one charger (``{charge_point_id}``) share a hash slot, so every
  script and transaction keeps to one slot;
- ``sentinel``: a primary watched by Sentinels (``redis_sentinels``, ``redis_master``); the
  client asks the Sentinels where the primary is, again after a failover.

Every client retries a command that met a broken connection (a Redis restart or failover
leaves the pool's connections dead) with exponential backoff, and checks a connection idle for
``health_check_interval`` seconds before using it, so that a restarted Redis costs a retry, not
a failed command.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient: TypeAlias = "aioredis.Redis | RedisCluster"
"""What the factory returns; both speak the same commands, scripts and pipelines."""


_DRIVER_INFO = DriverInfo()
"""What every connection reports in CLIENT SETINFO, resolved once: left to redis-py, each new
connection looks its version up in the installed packages' metadata (~5 ms of CPU), and a
reconnect storm opens the whole pool at once."""


class RedisMode(StrEnum):
    SINGLE = "single"
    CLUSTER = "cluster"
    SENTINEL = "sentinel"


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where Redis is and how hard to try (built from the gateway settings)."""

    url: str | None = None
    """``redis://host:port/db`` (single; any node for cluster; auth/db for sentinel)."""
    mode: RedisMode = RedisMode.SINGLE
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    retries: int = 8
    """Retries of a command after a connection error; with the backoff below about 5 s, the
    time a restarted or failed-over Redis takes to answer again."""
    failover_retries: int = 16
    """Retries in sentinel mode. A failover lasts the Sentinels' ``down-after-milliseconds``,
    an election and the replica's promotion, during which they name no primary at all
    (``MasterNotFoundError``): seconds, more on a loaded machine. About 13 s with the backoff
    below, so that a command issued then waits for the new primary instead of failing."""
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    health_check_interval: float = 5.0
    socket_timeout: float = 15.0
    """Longer than the blocking stream reads (5 s by default), which would otherwise time out."""
    connect_timeout: float = 5.0
    max_connections: int = 256
    """Connections of a single server's pool. Past them a command waits up to
    ``pool_timeout`` for a free one: a reconnect storm of thousands of chargers claims and
    releases presence at once, and redis-py's default pool (100) fails them instead."""
    pool_timeout: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.url) or (self.mode is RedisMode.SENTINEL and bool(self.sentinels))


def parse_host_port(value: str) -> tuple[str, int]:
    """``host:port`` (IPv6 as ``[::1]:26379``) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


def _retry(target: RedisTarget, retries: int) -> Retry:
    return Retry(ExponentialBackoff(cap=target.backoff_cap, base=target.backoff_base), retries)


def _common(target: RedisTarget, retries: int | None = None) -> dict[str, Any]:
    return {
        "retry": _retry(target, target.retries if retries is None else retries),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": target.health_check_interval,
        "socket_timeout": target.socket_timeout,
        "socket_connect_timeout": target.connect_timeout,
        "socket_keepalive": True,
        "driver_info": _DRIVER_INFO,
    }


class _ClusterRoutedFromTheStart(RedisCluster):
    """A cluster client whose first commands wait for its slot map.

    redis-py 8.1 resolves a command's routing policy before it learns the cluster's layout:
    the commands of a fresh client's first burst (96 logins of a restart storm at once) went
    to the startup node and came back MOVED, every fifth MOVED rebuilt the node list, and the
    rebuild closed connections other commands were using: some failed with an
    ``AttributeError`` out of redis-py, some were sent again after they had run (an INCR
    counted twice; ``tests/test_redis_clients.py``). Learning the layout first is one lock
    the first commands share, then a flag read."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def as_target(value: RedisTarget | str | None) -> RedisTarget | None:
    """A bare URL is a single server with the default retries."""
    if value is None or isinstance(value, RedisTarget):
        return value if value is None or value.configured else None
    return RedisTarget(url=value) if value else None


def open_redis(target: RedisTarget | str) -> RedisClient:
    """A new client for ``target`` (its own connection pool; close it with ``aclose()``)."""
    if isinstance(target, str):
        target = RedisTarget(url=target)
    if target.mode is RedisMode.CLUSTER:
        if not target.url:
            raise ValueError("redis_mode cluster needs redis_url (any node of the cluster)")
        return _ClusterRoutedFromTheStart.from_url(target.url, **_common(target))
    if target.mode is RedisMode.SENTINEL:
        if not target.sentinels or not target.master:
            raise ValueError("redis_mode sentinel needs redis_sentinels and redis_master")
        extra: dict[str, Any] = {}
        if target.url:
            parsed = aioredis.connection.parse_url(target.url)
            extra = {k: parsed[k] for k in ("db", "username", "password") if k in parsed}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs={"socket_timeout": target.connect_timeout,
                             "socket_connect_timeout": target.connect_timeout},
            **_common(target, target.failover_retries), **extra)
        client: aioredis.Redis = sentinel.master_for(target.master)
        return client
    if not target.url:
        raise ValueError("no redis_url configured")
    return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        target.url, max_connections=target.max_connections, timeout=target.pool_timeout,
        **_common(target)))
