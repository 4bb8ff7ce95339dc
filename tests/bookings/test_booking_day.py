"""A booking day end to end, with real parts side by side: the gateway app on loopback, a
real OCPP 1.6 charger (E1, E2: Type 2) and a real 2.0.1 charger (E3: CCS), a 2.2.1 eMSP that
sends RESERVE_NOW and a 2.3.0 eMSP that books (every answer and push validated against the
official OpenAPI by the peers). On the gateway's clock, moved by the test:

- two Type 2 bookings an hour ahead take both Type 2 EVSEs from their binding time: a 2.2.1
  RESERVE_NOW that would still hold E1 then is REJECTED, a shorter one ending before it is
  ACCEPTED (and expires), one on the CCS EVSE is ACCEPTED;
- at start - activation lead both bookings are bound (ReserveNow at the 1.6 charger until
  start + no-show timeout) and pushed with their EVSE;
- the first driver starts with the reservation id: FULFILLED, pushed;
- nobody comes for the second: at the no-show time NO_SHOW, pushed, CancelReservation at the
  charger, the EVSE free again.
- a third booking's driver arrives in its window while it is not bound (both Type 2 EVSEs
  busy at its binding time) and starts with its token on the EVSE that freed: FULFILLED."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.bookings.extension import BOOKINGS_PUBLISHER
from ocpi_gateway.locations.extension import AVAILABILITY
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    MovableClock,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.peers.emsp import EmspPeer

TERMS = {"enabled": True, "timeslot_increment_minutes": 1, "min_duration_minutes": 10,
         "activation_lead_minutes": 10, "noshow_timeout_minutes": 15,
         "early_start_minutes": 5, "turnover_buffer_minutes": 5,
         "cancel_until_minutes": 0, "change_until_minutes": 0}
T2 = "IEC_62196_T2"


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Day:
    world: World
    clock: MovableClock
    booker: EmspPeer
    t0: datetime

    def at(self, minutes: float) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    async def book(self, request_id: str, uid: str, start: float, minutes: float = 30
                   ) -> dict[str, Any]:
        p = self.booker
        body = {"country_code": p.country_code, "party_id": p.party_id,
                "request_id": request_id, "location_id": LOCATION,
                "booking_location_id": LOCATION,
                "period": {"start_date_time": z(self.at(start)),
                           "end_date_time": z(self.at(start + minutes))},
                "authorization_reference": f"AUTH-{request_id}",
                "tokens": [{"country_code": p.country_code, "party_id": p.party_id,
                            "uid": uid, "type": "RFID", "contract_id": f"C-{uid}"}],
                "booking_option": {"connector_types": [T2]}}
        status, answer, _ = await p.call("POST", f"{self.world.gateway.url}/ocpi/2.3.0/bookings",
                                         json=body)
        assert status == 200 and answer["data"]["reservation_status"] == "RESERVED", answer
        return dict(answer["data"])

    async def pushed(self, booking: dict[str, Any]) -> dict[str, Any]:
        await self.world.gateway.app[BOOKINGS_PUBLISHER].flush()
        return dict(self.booker.bookings.get(f"NL/EXA/{booking['id']}", {}))

    async def state(self, booking: dict[str, Any]) -> str:
        return str((await self.pushed(booking)).get("reservation_status"))

    async def bind(self) -> None:
        binder = self.world.gateway.app[BOOKINGS].binder
        assert binder is not None
        await binder.run()

    async def reserve(self, name: str, evse_uid: str, minutes: float) -> str:
        body = self.world.reserve_body(name, name, evse_uid=evse_uid)
        body["expiry_date"] = self.clock.in_minutes(minutes)
        reply = await self.world.command("RESERVE_NOW", body)
        assert reply["data"]["result"] == "ACCEPTED", reply
        return str((await self.world.result(name))["result"])

    async def start_16(self, connector: int, id_tag: str, reservation_id: int | None = None
                       ) -> None:
        await self.world.chargers[CP16].charger.call(call16.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=0, timestamp=z(self.clock()),
            reservation_id=reservation_id))


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[Day]:
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS), clock=clock)
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.all_available()
        yield Day(world, clock, booker, clock.now)
    finally:
        await booker.close()
        await close_world(world)


async def test_a_booking_day_with_both_ocpi_and_both_ocpp_versions(day: Day) -> None:
    world, clock = day.world, day.clock
    first = await day.book("B1", "BKG-TOK1", start=60)
    second = await day.book("B2", "BKG-TOK2", start=60)
    assert await eventually(lambda: _is(day.state(first), "RESERVED"))
    assert (await day.pushed(first)).get("booking_option", {}).get("evse_uid") in (None, "#NA")

    # E1 is needed by the bookings from minute 50: a RESERVE_NOW holding it until 55 is not
    # accepted, one until 40 (plus the 5-minute turnover) is; the CCS EVSE is not booked.
    assert await day.reserve("RN-LONG", "E1", minutes=55) == "REJECTED"
    assert await day.reserve("RN-SHORT", "E1", minutes=40) == "ACCEPTED"
    assert await day.reserve("RN-CCS", "E3", minutes=55) == "ACCEPTED"
    reservations = world.gateway.app[RESERVATIONS]

    clock.now = day.at(50)
    assert await reservations.expire_due() == 1  # RN-SHORT
    await day.bind()
    sent = world.received(CP16, "ReserveNow")
    bound = sent[1:]  # the first was RN-SHORT's
    assert len(bound) == 2, sent
    assert {p["connector_id"] for p in bound} == {1, 2}
    assert {p["id_tag"] for p in bound} == {"BKG-TOK1", "BKG-TOK2"}
    assert all(p["expiry_date"].startswith(z(day.at(75))[:16]) for p in bound)
    assert len(world.received(CP201, "ReserveNow")) == 1  # RN-CCS only
    # The pushes go through the outbox: read them once they arrived.
    pushed = [await eventually(lambda b=b: _bound_evse(day, b)) for b in (first, second)]
    assert set(pushed) == {"E1", "E2"}
    # Each binding reached the eMSP as a PATCH of the option naming the EVSE, nothing else.
    for b in (first, second):
        binds = [r.body for r in day.booker.received if r.method == "PATCH"
                 and r.path.endswith(f"/NL/EXA/{b['id']}") and "booking_option" in r.body]
        assert [sorted(body) for body in binds] == [["booking_option", "last_updated"]]
    by_tag = {p["id_tag"]: p for p in bound}

    # The first driver, on time, with the reservation id.
    clock.now = day.at(58)
    used = by_tag["BKG-TOK1"]
    await day.start_16(used["connector_id"], "BKG-TOK1", used["reservation_id"])
    assert await eventually(lambda: _is(day.state(first), "FULFILLED"))

    # Nobody for the second: a no-show at start + 15, told to the charger.
    clock.now = day.at(75)
    assert await reservations.expire_due() >= 1
    await day.bind()
    assert await eventually(lambda: _is(day.state(second), "NO_SHOW"))
    missed = by_tag["BKG-TOK2"]
    assert await eventually(lambda: [p["reservation_id"] for p in
                                     world.received(CP16, "CancelReservation")] == [
        missed["reservation_id"]])
    held = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert not held[f"E{missed['connector_id']}"].holder


async def test_a_driver_in_the_window_fulfils_a_booking_not_bound_yet(day: Day) -> None:
    world, clock = day.world, day.clock
    booking = await day.book("B3", "BKG-TOK3", start=30)
    # Both Type 2 EVSEs busy at its binding time: it is tried again, not bound.
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")
    clock.now = day.at(20)
    await day.bind()
    option = (await day.pushed(booking)).get("booking_option") or {}
    assert option.get("evse_uid") in (None, "#NA")
    assert world.received(CP16, "ReserveNow") == []
    # One frees at minute 27, and the driver (in the window [25, 45]) plugs in at once.
    await world.status(CP16, 2, "Available")
    clock.now = day.at(27)
    await day.start_16(2, "BKG-TOK3")
    assert await eventually(lambda: _is(day.state(booking), "FULFILLED"))
    await day.bind()
    assert world.received(CP16, "ReserveNow") == []


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def _bound_evse(day: Day, booking: dict[str, Any]) -> str | None:
    option = (await day.pushed(booking)).get("booking_option") or {}
    uid = option.get("evse_uid")
    return None if uid in (None, "#NA") else str(uid)


async def test_a_2_3_0_reserve_now_is_held_to_the_bookings_as_a_2_2_1_one(
        tmp_path: Path) -> None:
    # The same gate whatever the eMSP's version: the issue's "A RESERVE_NOW (2.2.1 or 2.3.0)
    # whose window overlaps bookings is accepted only when the bookings still fit".
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS), clock=clock,
                             ocpi_version="2.3.0")
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.all_available()
        versions = {p.version for p in await world.gateway.partners.registered()}
        assert versions == {"2.3.0"}  # the RESERVE_NOW eMSP too
        day = Day(world, clock, booker, clock.now)
        await day.book("B1", "BKG-TOK1", start=60)
        await day.book("B2", "BKG-TOK2", start=60)
        assert await day.reserve("RN-LONG", "E1", minutes=55) == "REJECTED"
        assert await day.reserve("RN-SHORT", "E1", minutes=40) == "ACCEPTED"
        [(cp, _)] = world.all_received("ReserveNow")
        assert cp == CP16
    finally:
        await booker.close()
        await close_world(world)
