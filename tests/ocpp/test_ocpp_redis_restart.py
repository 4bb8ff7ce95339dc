"""A Redis restart (killed, back empty) under two OCPP instances: presence entries are claimed
again, not read as a takeover, and commands go on over the same clients."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from ocpp_test_support import STEADY, Behaviour, ChargerFactory, eventually, start_gateway

from ocpi_gateway.domain.charger_commands import CommandOutcome, ReserveNow
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands
from tests.redis_servers import RedisProcess

CP = "CP-AMS-01"
# Two instances and a Redis restart: minutes on a loaded machine, not stuck. The instances'
# TTLs (STEADY) outlast a loaded machine's stalls, every wait is for an event or an outcome.
pytestmark = pytest.mark.timeout(300)
COMMAND_TIMEOUT = 30.0
"""For a command whose outcome is not TIMEOUT: it ends when the charger answers."""


def reserve(n: int) -> ReserveNow:
    return ReserveNow(charge_point_id=CP, reservation_id=n, connector_id=1,
                      expiry=datetime(2026, 11, 23, 21, 0, tzinfo=UTC), id_token="04A2B3C4")


async def test_redis_restart_keeps_healthy_charger_sockets_and_routing(
        restartable_redis: RedisProcess, chargers: ChargerFactory) -> None:
    a = await start_gateway(redis_url=restartable_redis.url, instance_id="gw-a", timings=STEADY)
    b = await start_gateway(redis_url=restartable_redis.url, instance_id="gw-b", timings=STEADY)
    try:
        cp = await chargers.connect(a.url, CP, behaviour=Behaviour(reserve="Accepted"))
        await a.events.wait_for(lambda e: e.charge_point_id == CP)
        assert await b.server.commands.execute(
            reserve(1), timeout=COMMAND_TIMEOUT) is CommandOutcome.ACCEPTED

        restartable_redis.restart()  # every key lost, every pooled connection dead

        async def routed_again() -> bool:
            return await b.server.commands.is_online(CP)

        assert await eventually(routed_again, within=120)
        # Past several presence refreshes of the owner: the socket stays open.
        router = a.server.commands
        assert isinstance(router, RedisChargerCommands)
        refreshes = router.refreshes

        async def refreshed() -> bool:
            return router.refreshes >= refreshes + 3

        assert await eventually(refreshed, within=120)
        assert not cp.ws.closed
        assert a.server.registry.get(CP) is not None
        assert await b.server.commands.execute(
            reserve(2), timeout=COMMAND_TIMEOUT) is CommandOutcome.ACCEPTED
        assert [p["reservation_id"] for action, p in cp.behaviour.received
                if action == "ReserveNow"] == [1, 2]
        client = aioredis.from_url(restartable_redis.url)
        try:
            assert (await client.get(presence_key(CP))).decode().startswith("gw-a|")
        finally:
            await client.aclose()
    finally:
        await chargers.close()
        await a.close()
        await b.close()


async def test_after_a_restart_the_newest_connection_still_wins(
        restartable_redis: RedisProcess, chargers: ChargerFactory) -> None:
    """Re-claiming a missing entry must not let a stale owner beat a connection made after the
    restart: the fence keeps growing across the restart."""
    a = await start_gateway(redis_url=restartable_redis.url, instance_id="gw-a", timings=STEADY)
    b = await start_gateway(redis_url=restartable_redis.url, instance_id="gw-b", timings=STEADY)
    try:
        await chargers.connect(a.url, CP, behaviour=Behaviour(hang=asyncio.Event()))
        await a.events.wait_for(lambda e: e.charge_point_id == CP)
        restartable_redis.restart()
        # The charger reconnects to b while a still holds a half-open socket of it.
        second = await chargers.connect(b.url, CP, behaviour=Behaviour(reserve="Faulted"))
        await b.events.wait_for(lambda e: e.charge_point_id == CP)

        async def a_let_go() -> bool:
            return a.server.registry.get(CP) is None

        assert await eventually(a_let_go, within=120)
        assert b.server.registry.get(CP) is not None and not second.ws.closed
        # b's liveness key went with the restart: it is back at b's next keep-alive.
        assert await eventually(lambda: a.server.commands.is_online(CP), within=120)
        assert await a.server.commands.execute(
            reserve(3), timeout=COMMAND_TIMEOUT) is CommandOutcome.FAULTED
    finally:
        await chargers.close()  # before the gateways: their close handshakes need the peer
        await a.close()
        await b.close()


async def test_pooled_connections_survive_a_restart(restartable_redis: RedisProcess) -> None:
    """The availability store's client after a restart: a command retries on a new
    connection instead of failing on the dead pooled one."""
    from ocpi_gateway.reservation_policy.availability.base import EvseStatus
    from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability

    store = RedisAvailability.from_url(restartable_redis.url)
    try:
        now = datetime.now(UTC)
        assert await store.set_status("L1", "E1", EvseStatus.AVAILABLE, now)
        restartable_redis.restart()
        assert await store.set_status("L1", "E1", EvseStatus.AVAILABLE, now)
        found = await store.get("L1", "E1")
        assert found is not None and found.status is EvseStatus.AVAILABLE
    finally:
        await store.close()
