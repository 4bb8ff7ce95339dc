"""Cars charging across a restart, or on a charger that moved to another instance, stay on
the capacity timeline, with real parts: the gateway app on loopback (its capacity timeline
in-process, or on a real redis-server), a real OCPP 1.6 charger (E1, E2: Type 2), a 2.3.0
eMSP that books; the gateway's clock moved by the test, a restart on the same store.

Two walk-ins charge on both Type 2 EVSEs when the gateway restarts: the new process takes
them from the store (their Sessions ACTIVE), so that past their first estimate they are still
expected and extended — a booking whose slot starts then is REJECTED — and each leaves the
timeline when its transaction ends. A charger taken over by another instance is tracked
there; the instance it left lets its cars go once their ends are stored, and keeps no hold on
an EVSE a new car charges at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.config import ListenSettings
from ocpi_gateway.reservation_policy.bookings.binder import BookingBinder
from tests.bookings.test_sessions_in_progress import book, booking_site, sessions
from tests.commands.support import CP16, LOCATION, World, eventually
from tests.conftest import free_port
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, start_gateway
from tests.sessions.support import Clock, start16, stop16


@pytest.fixture(params=["memory", "redis"])
async def site(request: pytest.FixtureRequest, tmp_path: Path
               ) -> AsyncIterator[tuple[World, Clock, EmspPeer]]:
    clock = Clock()
    clock.now = clock.now.replace(second=0)
    async for opened in booking_site(request, tmp_path, clock):
        yield opened


def binder(gateway: RunningGateway) -> BookingBinder:
    found = gateway.app[BOOKINGS].binder
    assert found is not None
    return found


async def tracked(gateway: RunningGateway, now: datetime) -> set[str]:
    """The EVSEs whose sessions this instance tracks (what a restore there puts back)."""
    watch = binder(gateway).sessions
    assert watch is not None
    return {p.evse_uid or "" for p in await watch.stored(LOCATION, now)}


async def charging(world: World, clock: Clock) -> tuple[int, int]:
    """Walk-ins on E1 and E2 (charger CP-16, connectors 1 and 2)."""
    tx1 = await start16(world, clock, connector=1, id_tag="WALK1")
    tx2 = await start16(world, clock, connector=2, id_tag="WALK2")
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")
    return tx1, tx2


async def test_cars_charging_across_a_restart_stay_on_the_timeline_until_they_end(
        site: tuple[World, Clock, EmspPeer]) -> None:
    world, clock, booker = site
    t0 = clock.now
    tx1, tx2 = await charging(world, clock)
    hour = t0 + timedelta(hours=1)
    assert await eventually(lambda: _equal(sessions(world, t0), {"E1": hour, "E2": hour}))

    # A restart on the same store: before any charger is back, the cars are expected again
    # (the in-process timeline lost them; Redis kept them until their first estimate only).
    clock.now = t0 + timedelta(minutes=5)
    settings = world.gateway.settings
    await world.factory.close()
    await world.gateway.stop()
    world.gateway = await start_gateway(settings, clock=clock)
    assert await sessions(world, t0) == {"E1": hour, "E2": hour}
    await world.connect(CP16)
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")

    # Past their first estimate, each run keeps them a quarter hour ahead.
    clock.now = t0 + timedelta(minutes=55)
    await binder(world.gateway).run()
    clock.now = t0 + timedelta(minutes=65)
    await binder(world.gateway).run()
    later = t0 + timedelta(minutes=80)
    assert await sessions(world, t0) == {"E1": later, "E2": later}
    # Its promise [70, 120) meets both cars: no Type 2 EVSE to give.
    refused = await book(world, booker, t0, "B1", start=80)
    assert refused["reservation_status"] == "REJECTED", refused

    # The first car leaves: E1 is free for that booking from then on.
    clock.now = t0 + timedelta(minutes=66)
    await stop16(world, clock, tx1, 5000)
    assert await eventually(lambda: _equal(sessions(world, t0), {"E2": later}))
    admitted = await book(world, booker, t0, "B2", start=80)
    assert admitted["reservation_status"] == "RESERVED", admitted
    await stop16(world, clock, tx2, 5000)
    assert await eventually(lambda: _equal(sessions(world, t0), {}))


@pytest.mark.parametrize("site", ["redis"], indirect=True)
async def test_a_charger_taken_over_is_tracked_where_it_went_and_let_go_where_it_was(
        site: tuple[World, Clock, EmspPeer]) -> None:
    world, clock, _ = site
    first = world.gateway
    port = free_port()
    other = await start_gateway(first.settings.model_copy(update={
        "listen": ListenSettings(host="127.0.0.1", port=port),
        "public_url": f"http://127.0.0.1:{port}", "instance_id": "gw-other"}), clock=clock)
    try:
        t0 = clock.now
        tx1, tx2 = await charging(world, clock)
        hour = t0 + timedelta(hours=1)
        assert await eventually(lambda: _equal(sessions(world, t0),
                                               {"E1": hour, "E2": hour}))
        assert await tracked(other, t0) == set()

        # The charger connects to the other instance: its cars are tracked there too.
        clock.now = t0 + timedelta(minutes=5)
        await world.chargers[CP16].disconnect()
        world.gateway = other
        await world.connect(CP16)
        await world.status(CP16, 1, "Charging")
        await world.status(CP16, 2, "Charging")
        assert await eventually(lambda: _equal(tracked(other, clock.now), {"E1", "E2"}))
        clock.now = t0 + timedelta(minutes=55)
        await binder(other).run()
        await binder(first).run()  # both keep the same promises ahead
        assert await sessions(world, t0) == {"E1": t0 + timedelta(minutes=70),
                                             "E2": t0 + timedelta(minutes=70)}

        # Where the charger is now, both cars end; E1's still plugged in, a new car on E2.
        clock.now = t0 + timedelta(minutes=60)
        await stop16(world, clock, tx1, 5000)
        await world.status(CP16, 1, "Finishing")
        await stop16(world, clock, tx2, 5000)
        await start16(world, clock, connector=2, id_tag="WALK3")
        new = t0 + timedelta(minutes=120)
        assert await eventually(lambda: _equal(sessions(world, t0), {"E2": new}))
        # The instance it left, due to extend them, finds their ends stored: it lets them go
        # and leaves the new car's promise as it is.
        clock.now = t0 + timedelta(minutes=63)
        await binder(first).run()
        assert await sessions(world, t0) == {"E2": new}
        assert await tracked(first, clock.now) == set()
        assert await tracked(other, clock.now) == {"E2"}
    finally:
        world.gateway = first
        await other.stop()


async def _equal(value: Any, expected: object) -> bool:
    return bool(await value == expected)
