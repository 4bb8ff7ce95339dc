"""Stopping the Redis routing of an instance, on one redis-server and on a real 3-master
Redis Cluster: the stream reader blocks in XREAD (here for an hour), and its cancellation may
be lost inside redis-py (Python 3.11's ``wait_for`` around each socket write drops it when
it meets the write's result). ``stop()`` must still end: it wakes the blocking read itself and
the reader leaves. A two-instance shutdown on a cluster hung for more than ten minutes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands
from ocpi_gateway.redis_clients import RedisTarget, open_redis

HANG = 60.0
"""Guards the test against the hang it is about; the read blocks for an hour, so only a
wake-up ends it before this."""


@pytest.fixture(params=["single", "cluster"])
def shared_redis(request: pytest.FixtureRequest) -> RedisTarget:
    if request.param == "cluster":
        target: RedisTarget = request.getfixturevalue("redis_cluster")
        return target
    return RedisTarget(url=request.getfixturevalue("redis_url"))


async def test_stop_ends_a_blocking_read_that_lost_its_cancellation(
        shared_redis: RedisTarget) -> None:
    client = open_redis(shared_redis)
    routing = RedisChargerCommands(ConnectionRegistry(), client, "gw-stop", block_ms=3_600_000)
    reads = 0
    blocking = asyncio.Event()
    real_xread = client.xread

    async def lossy_xread(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        if kwargs.get("block", 0) > 1000:
            blocking.set()
        try:
            return await real_xread(*args, **kwargs)
        except asyncio.CancelledError:
            return []  # lost on the way, as redis-py on 3.11 can

    client.xread = lossy_xread  # type: ignore[method-assign]
    await routing.start()
    try:
        done, _ = await asyncio.wait({asyncio.ensure_future(blocking.wait())}, timeout=HANG)
        assert done, "the reader never blocked on its streams"
        stopping = asyncio.ensure_future(routing.stop())
        done, _ = await asyncio.wait({stopping}, timeout=HANG)
        assert done, "stop() waited on the stream reader for ever"
        await stopping
    finally:
        await client.aclose()
