"""Stopping the Redis routing of an instance, on one redis-server and on a real 3-master
Redis Cluster: the stream reader blocks in XREAD (here for an hour), and its cancellation may
be lost inside redis-py (Python 3.11's ``wait_for`` around each socket write drops it when
it meets the write's result). ``stop()`` must still end: it wakes the blocking read itself and
the reader leaves. A two-instance shutdown on a cluster hung for more than ten minutes.

And the commands queued for Redis when the server stops (a login's record, a charger's
release: redis_clients/batching.py) are sent before its client closes, not left to the end
of the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ocpi_gateway.ocpp_adapter.auth_redis import RedisLoginLimiter, known_key
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands
from ocpi_gateway.ocpp_adapter.server import OcppServer
from ocpi_gateway.redis_clients import RedisTarget, open_redis
from ocpi_gateway.redis_clients.batching import CommandBatcher
from tests.ocpp.ocpp_test_support import start_gateway

CP = "CP-DRAIN"
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


Queued = Callable[[OcppServer], Awaitable[Callable[[], Awaitable[None]]]]
"""Prepares, on a started server, a command to be queued; returns what queues it."""


async def login_succeeding(server: OcppServer) -> Callable[[], Awaitable[None]]:
    limiter = server._limiter
    assert isinstance(limiter, RedisLoginLimiter)
    attempt = await limiter.begin(CP, "192.0.2.7")
    assert attempt is not None
    return lambda: limiter.succeeded(attempt)


async def charger_leaving(server: OcppServer) -> Callable[[], Awaitable[None]]:
    router = server._router
    assert isinstance(router, RedisChargerCommands)
    await router.presence.charger_connected(CP)
    return lambda: router.presence.charger_disconnected(CP)


async def landed(check: Any, queued: Queued) -> bool:
    if queued is login_succeeding:
        return bool(await check.exists(known_key(CP)))
    return not await check.exists(presence_key(CP))


@pytest.mark.parametrize("queued", [login_succeeding, charger_leaving],
                         ids=["login", "release"])
async def test_stop_sends_the_commands_queued_before_it(
        redis_url: str, monkeypatch: pytest.MonkeyPatch, queued: Queued) -> None:
    gateway = await start_gateway(redis_url=redis_url, instance_id="gw-drain")
    server = gateway.server
    check = open_redis(redis_url)
    await check.delete(known_key(CP), presence_key(CP))
    queue = await queued(server)
    assert not await landed(check, queued)
    # The command is on its way when the stop begins: its pipeline waits (as behind a busy
    # Redis or a full pool) until the server waits for it.
    client = server.redis
    assert client is not None
    real_pipeline = client.pipeline
    waited = asyncio.Event()
    held: list[Any] = []

    def held_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        async def execute(*a: Any, **kw: Any) -> Any:
            # Only the batch with the test's command (the presence refresh runs meanwhile).
            if not held and any(CP in str(arg) for command, _ in pipe.command_stack
                                for arg in command):
                held.append(pipe)
                await waited.wait()
            return await real_execute(*a, **kw)

        pipe.execute = execute
        return pipe

    real_drain = CommandBatcher.drain

    async def drain(self: CommandBatcher) -> None:
        waited.set()
        await real_drain(self)

    client.pipeline = held_pipeline  # type: ignore[method-assign]
    monkeypatch.setattr(CommandBatcher, "drain", drain)
    caller = asyncio.ensure_future(queue())
    try:
        for _ in range(20):  # a few passes of the loop: queued, flushed, its pipeline opened
            if held:
                break
            await asyncio.sleep(0)
        assert held, "the command was not sent"
        stopping = asyncio.ensure_future(gateway.close())
        done, _ = await asyncio.wait({stopping}, timeout=HANG)
        assert done, "stop() hung"
        await stopping
        assert waited.is_set(), "stop() closed Redis without waiting for the queued command"
        assert caller.done()
        await caller
        assert await landed(check, queued)
    finally:
        waited.set()
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        await check.aclose()
