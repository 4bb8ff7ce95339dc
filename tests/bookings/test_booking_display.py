"""A booking bound to a 2.0.1 charger with a display (chargers.yaml ``display.reserved``)
shows "Reserved until HH:MM" (the no-show time, in the site's time zone) from its binding,
and clears it when the booking ends (here a no-show): the issue's visual indication is for
bookings as for reservations. Real 2.0.1 charger, 2.3.0 eMSP, the gateway's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.bookings.test_booking_day import TERMS, z
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import (
    CP201,
    LOCATION,
    MovableClock,
    World,
    chargers_doc,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.peers.emsp import EmspPeer


async def test_a_bound_booking_is_shown_on_the_display_and_cleared_at_its_end(
        tmp_path: Path) -> None:
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    t0 = clock.now
    doc = chargers_doc()
    for charger in doc["chargers"]:
        if charger["id"] == CP201:
            charger["display"] = {"reserved": True}
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS), clock=clock,
                             chargers=doc)
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.all_available()
        start = t0 + timedelta(minutes=30)
        body = {"country_code": booker.country_code, "party_id": booker.party_id,
                "request_id": "D1", "location_id": LOCATION, "booking_location_id": LOCATION,
                "period": {"start_date_time": z(start),
                           "end_date_time": z(start + timedelta(minutes=30))},
                "authorization_reference": "AUTH-D1",
                "tokens": [{"country_code": booker.country_code,
                            "party_id": booker.party_id, "uid": "BKG-D1", "type": "RFID",
                            "contract_id": "C-D1"}],
                "booking_option": {"connector_types": ["IEC_62196_T2_COMBO"]}}
        status, answer, _ = await booker.call(
            "POST", f"{world.gateway.url}/ocpi/2.3.0/bookings", json=body)
        assert status == 200 and answer["data"]["reservation_status"] == "RESERVED", answer
        assert world.received(CP201, "SetDisplayMessage") == []  # nothing before binding
        binder = world.gateway.app[BOOKINGS].binder
        assert binder is not None
        clock.now = t0 + timedelta(minutes=20)  # start - activation lead
        await binder.run()
        [reserve_now] = world.received(CP201, "ReserveNow")
        assert await eventually(lambda: _got(world, "SetDisplayMessage"))
        [shown] = world.received(CP201, "SetDisplayMessage")
        noshow = start + timedelta(minutes=TERMS["noshow_timeout_minutes"])
        local = datetime.fromisoformat(reserve_now["expiry_date_time"]).astimezone(
            ZoneInfo("Europe/Amsterdam"))
        assert reserve_now["expiry_date_time"].startswith(z(noshow)[:16])
        assert shown["message"]["message"]["content"] == f"Reserved until {local:%H:%M}"
        assert shown["message"]["id"] == reserve_now["id"]
        # Nobody comes: NO_SHOW at the no-show time, the message cleared.
        clock.now = noshow
        await world.gateway.app[RESERVATIONS].expire_due()
        await binder.run()
        assert await eventually(lambda: _cleared(world, reserve_now["id"]))
    finally:
        await booker.close()
        await close_world(world)


async def _got(world: World, action: str) -> bool:
    return bool(world.received(CP201, action))


async def _cleared(world: World, ocpp_id: int) -> bool:
    return world.received(CP201, "ClearDisplayMessage") == [{"id": ocpp_id}]
