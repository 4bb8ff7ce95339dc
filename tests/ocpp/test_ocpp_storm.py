"""Many chargers logging in at once on an instance with Redis: nobody is refused, every one is
present for the others, the same credentials checked at once cost one scrypt, and a restarted
instance admits them without scrypt."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import aiohttp
import redis.asyncio as aioredis
from ocpp_test_support import (
    FAST,
    PASSWORD,
    PASSWORD_HASH,
    basic_auth,
    eventually,
    start_gateway,
)

from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key

COUNT = 150  # past redis-py's default pool of 100 connections; more only loads a shared CI box
# A presence entry outlives any stall of a loaded machine: "all present at once" must not depend
# on the refresh loop keeping up with FAST's 1.5 s TTL while the storm holds the event loop.
STORM = dataclasses.replace(FAST, presence_ttl=300.0)
HANG_GUARD = 120.0  # seconds; only against a hang, never a bound the test proves


def many_chargers() -> ChargersConfig:
    return ChargersConfig.model_validate({"chargers": [
        {"id": f"CP-STORM-{n:04d}", "ocpp_version": "1.6", "password_hash": PASSWORD_HASH}
        for n in range(COUNT)]})


async def _storm(url: str) -> tuple[Counter[int], list[aiohttp.ClientWebSocketResponse]]:
    connector = aiohttp.TCPConnector(limit=0)
    http = aiohttp.ClientSession(connector=connector)
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def one(n: int) -> int:
        cp = f"CP-STORM-{n:04d}"
        try:
            sockets.append(await http.ws_connect(
                f"{url}/{cp}", protocols=("ocpp1.6",),
                headers={"Authorization": basic_auth(cp, PASSWORD)}))
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        return 101

    try:
        return Counter(await asyncio.gather(*(one(n) for n in range(COUNT)))), sockets
    finally:
        for ws in sockets:
            await ws.close()
        await http.close()


async def test_a_login_storm_is_admitted_and_present_in_redis(redis_url: str) -> None:
    key = b"k" * 32
    redis = aioredis.from_url(redis_url)
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, password_key=key,
                             timings=STORM)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            sockets = []
            for n in range(COUNT):
                cp = f"CP-STORM-{n:04d}"
                sockets.append(http.ws_connect(
                    f"{gw.url}/{cp}", protocols=("ocpp1.6",),
                    headers={"Authorization": basic_auth(cp, PASSWORD)}))
            opened = await asyncio.wait_for(asyncio.gather(*sockets), HANG_GUARD)
            async def all_present() -> bool:
                # The presence claim follows the websocket handshake: a moment later.
                present = await redis.exists(*(presence_key(f"CP-STORM-{n:04d}")
                                               for n in range(COUNT)))
                return bool(present == COUNT)

            assert await eventually(all_present, within=HANG_GUARD)
            for ws in opened:
                await ws.close()
        # One hash shared by all: one scrypt, however many check it at once.
        assert gw.server.passwords.scrypt_runs == 1
    finally:
        await gw.close()
        await redis.aclose()
    restarted = await start_gateway(chargers=many_chargers(), redis_url=redis_url,
                                    password_key=key, timings=STORM)
    try:
        statuses, _ = await asyncio.wait_for(_storm(restarted.url), HANG_GUARD)
        assert statuses == {101: COUNT}
        assert restarted.server.passwords.scrypt_runs == 0
    finally:
        await restarted.close()


async def test_the_gateways_redis_client_waits_for_a_connection_instead_of_failing(
        redis_url: str) -> None:
    # In a restart storm thousands of presence claims and releases run at once; redis-py's
    # default pool refuses past 100 ("Too many connections": claims and releases were lost,
    # the benchmark's gateway logged 657 ocpp_presence_release_failed).
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, timings=STORM)
    try:
        client = gw.server.redis
        assert isinstance(client, aioredis.Redis)
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.set(f"storm:{n}", n) for n in range(COUNT))), HANG_GUARD)
        assert answers == [True] * COUNT
        # The storm did hold more connections at once than redis-py's default pool allows.
        pool = client.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) > 100
    finally:
        await gw.close()
