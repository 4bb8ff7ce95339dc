"""The planner sees sessions in progress, with real parts: the gateway app on loopback (its
capacity timeline in-process, or on a real redis-server), a real OCPP 1.6 charger (E1, E2:
Type 2) and a real 2.0.1 charger (E3: CCS), a 2.3.0 eMSP that books and a 2.2.1 eMSP that
sends RESERVE_NOW; the gateway's clock moved by the test.

Two walk-in drivers start transactions on both Type 2 EVSEs, with no promise: each is
expected busy until its estimated end (no history at the site yet: the default hour), so a
booking whose slot starts meanwhile is REJECTED, one after it RESERVED, and a RESERVE_NOW on
a CCS EVSE still ACCEPTED. One driver leaves: its EVSE is free for a booking again, and at
the binding time the booking is bound to it (the other EVSE still charging). A car still
charging at its estimate is extended, not forgotten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.reservation_policy.capacity.base import PromiseKind
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.reservations.extension import CAPACITY
from tests.bookings.test_booking_day import T2, TERMS, z
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import (
    CP16,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.peers.emsp import EmspPeer
from tests.sessions.support import Clock, start16, stop16


async def booking_site(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
                       ) -> AsyncIterator[tuple[World, Clock, EmspPeer]]:
    """The gateway on ``clock`` with the bookings terms, its capacity timeline in-process or
    on a real redis-server (``request.param``), a 2.3.0 booker, every EVSE Available."""
    redis: dict[str, Any] = {}
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
        timeline = world.gateway.app[CAPACITY].timeline
        assert isinstance(timeline, RedisCapacity) is (request.param == "redis")
        await world.all_available()
        yield world, clock, booker
    finally:
        await booker.close()
        await close_world(world)


@pytest.fixture(params=["memory", "redis"])
async def site(request: pytest.FixtureRequest, tmp_path: Path
               ) -> AsyncIterator[tuple[World, Clock, EmspPeer]]:
    clock = Clock()
    clock.now = clock.now.replace(second=0)
    async for opened in booking_site(request, tmp_path, clock):
        yield opened


async def book(world: World, booker: EmspPeer, t0: datetime, request_id: str, start: float,
               minutes: float = 30) -> dict[str, Any]:
    body = {"country_code": booker.country_code, "party_id": booker.party_id,
            "request_id": request_id, "location_id": LOCATION,
            "booking_location_id": LOCATION,
            "period": {"start_date_time": z(t0 + timedelta(minutes=start)),
                       "end_date_time": z(t0 + timedelta(minutes=start + minutes))},
            "authorization_reference": f"AUTH-{request_id}",
            "tokens": [{"country_code": booker.country_code, "party_id": booker.party_id,
                        "uid": f"TOK-{request_id}", "type": "RFID",
                        "contract_id": f"C-{request_id}"}],
            "booking_option": {"connector_types": [T2]}}
    status, answer, _ = await booker.call("POST", f"{world.gateway.url}/ocpi/2.3.0/bookings",
                                          json=body)
    assert status == 200, answer
    return dict(answer["data"])


async def sessions(world: World, t0: datetime) -> dict[str, datetime]:
    """EVSE uid → the end the timeline expects of the session charging there."""
    found = await world.gateway.app[CAPACITY].timeline.promises(
        LOCATION, t0 - timedelta(hours=1), t0 + timedelta(days=1))
    return {p.evse_uid or "": p.end for p in found if p.kind is PromiseKind.SESSION}


async def test_cars_charging_without_a_promise_are_on_the_timeline(
        site: tuple[World, Clock, EmspPeer]) -> None:
    world, clock, booker = site
    t0 = clock.now
    tx1 = await start16(world, clock, connector=1, id_tag="WALK1")
    await start16(world, clock, connector=2, id_tag="WALK2")
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")
    assert await eventually(lambda: _equal(sessions(world, t0), {
        "E1": t0 + timedelta(hours=1), "E2": t0 + timedelta(hours=1)}))

    # Its promise [20, 65) meets both cars (expected until 60); [60, 105) does not.
    early = await book(world, booker, t0, "B1", start=30)
    assert early["reservation_status"] == "REJECTED", early
    later = await book(world, booker, t0, "B2", start=70)
    assert later["reservation_status"] == "RESERVED", later
    # The CCS EVSE is no class the cars use: a RESERVE_NOW there is accepted.
    reserve = world.reserve_body("RN-CCS", "RN-CCS", evse_uid="E3")
    reserve["expiry_date"] = clock.z(minutes=30)
    assert (await world.command("RESERVE_NOW", reserve))["data"]["result"] == "ACCEPTED"
    assert (await world.result("RN-CCS"))["result"] == "ACCEPTED"

    # The first driver leaves at minute 5: E1 is free for a booking from then on.
    clock.now = t0 + timedelta(minutes=5)
    await stop16(world, clock, tx1, 1000)
    await world.status(CP16, 1, "Available")
    assert await eventually(lambda: _equal(sessions(world, t0),
                                           {"E2": t0 + timedelta(hours=1)}))
    again = await book(world, booker, t0, "B3", start=30)
    assert again["reservation_status"] == "RESERVED", again

    # At its binding time E2 still charges: bound to E1 (ReserveNow on connector 1).
    clock.now = t0 + timedelta(minutes=20)
    binder = world.gateway.app[BOOKINGS].binder
    assert binder is not None
    await binder.run()
    sent = await eventually(lambda: world.received(CP16, "ReserveNow"))
    assert [(p["connector_id"], p["id_tag"]) for p in sent] == [(1, "TOK-B3")]

    # The second car charges past its estimate: each run keeps it a quarter hour ahead.
    clock.now = t0 + timedelta(minutes=55)
    await binder.run()
    assert (await sessions(world, t0))["E2"] == t0 + timedelta(minutes=70)


async def _equal(value: Any, expected: object) -> bool:
    return bool(await value == expected)
