"""The capacity timeline reads the gateway's clock, not the wall clock (regression: it was
opened without one, so a gateway on an injected clock judged every promise against the wall
clock's present). The gateway's clock is set two days back: a slot an hour ahead of it ended
long ago by the wall clock, and the timeline refused it as INVALID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.bookings.test_sessions_in_progress import book, booking_site
from tests.commands.support import World
from tests.peers.emsp import EmspPeer
from tests.sessions.support import Clock


@pytest.fixture(params=["memory", "redis"])
async def behind(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> AsyncIterator[tuple[World, Clock, EmspPeer]]:
    clock = Clock()
    clock.now = clock.now.replace(second=0) - timedelta(days=2)
    async for opened in booking_site(request, tmp_path, clock):
        yield opened


async def test_a_slot_ahead_of_the_gateways_clock_is_booked(
        behind: tuple[World, Clock, EmspPeer]) -> None:
    world, clock, booker = behind
    booking = await book(world, booker, clock.now, "B1", start=60)
    assert booking["reservation_status"] == "RESERVED", booking
