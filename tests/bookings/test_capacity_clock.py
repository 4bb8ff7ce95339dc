"""The capacity timeline reads the gateway's clock, not the wall clock (regression: it was
opened without one, so a gateway on an injected clock judged every promise against the wall
clock's present). The gateway's clock is set two days back: a slot an hour ahead of it ended
long ago by the wall clock, and the timeline refused it as INVALID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.bookings.test_booking_day import TERMS
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.bookings.test_sessions_in_progress import book
from tests.commands.support import World, close_world, open_world, policy_doc
from tests.peers.emsp import EmspPeer
from tests.sessions.support import Clock


@pytest.fixture(params=["memory", "redis"])
async def behind(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> AsyncIterator[tuple[World, Clock, EmspPeer]]:
    clock = Clock()
    clock.now = clock.now.replace(second=0) - timedelta(days=2)
    redis = {}
    if request.param == "redis":
        url = request.getfixturevalue("redis_server")
        client = aioredis.from_url(url)
        await client.flushall()
        await client.aclose()
        redis["redis_url"] = url
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS), clock=clock,
                             charger_seconds=5.0, **redis)
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.all_available()
        yield world, clock, booker
    finally:
        await booker.close()
        await close_world(world)


async def test_a_slot_ahead_of_the_gateways_clock_is_booked(
        behind: tuple[World, Clock, EmspPeer]) -> None:
    world, clock, booker = behind
    booking = await book(world, booker, clock.now, "B1", start=60)
    assert booking["reservation_status"] == "RESERVED", booking
