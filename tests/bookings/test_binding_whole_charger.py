"""A booking bound onto a 2.0.1 charger reserved as a whole, end to end: the real gateway app
on loopback (the gateway's clock, moved by the test), a real OCPP 2.0.1 charger over a
websocket with two Type 2 socket EVSEs (chargers.yaml ``reserve_whole_charger``, policy
``allow_whole_charger``) and a real 2.3.0 eMSP that POSTs {bookings} naming one connector
type. At start - activation lead the charger gets one ReserveNow without evseId carrying
``connectorType`` sType2 (H01 S3), until start + no-show timeout, and the eMSP gets the
Booking with the bound ``evse_uid``. (The pieces: tests/bookings/test_binder.py,
tests/policy/test_lifecycle.py, tests/ocpp/test_ocpp201.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.bookings.extension import BOOKINGS_PUBLISHER
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.bookings.test_booking_day import TERMS, z
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import (
    CP201,
    LOCATION,
    MovableClock,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.ocpp.ocpp_test_support import PASSWORD_HASH
from tests.peers.emsp import EmspPeer

T2 = "IEC_62196_T2"


def _evse(uid: str, evse_id: int) -> dict[str, Any]:
    return {"uid": uid, "charge_point_id": CP201, "ocpp_evse_id": evse_id,
            "capabilities": ["RESERVABLE", "REMOTE_START_STOP_CAPABLE"],
            "connectors": [{"id": "1", "ocpp_connector_id": 1, "standard": T2,
                            "format": "SOCKET", "power_type": "AC_3_PHASE",
                            "max_voltage": 230, "max_amperage": 32,
                            "max_electric_power": 22000}]}


def locations() -> dict[str, Any]:
    """LOC-1: one 2.0.1 charger, two Type 2 socket EVSEs."""
    return {"locations": [{
        "id": LOCATION, "country_code": "NL", "party_id": "EXA", "address": "Teststraat 1",
        "city": "Amsterdam", "country": "NLD", "time_zone": "Europe/Amsterdam",
        "coordinates": {"latitude": "52.300000", "longitude": "4.800000"},
        "evses": [_evse("W1", 1), _evse("W2", 2)]}]}


def chargers() -> dict[str, Any]:
    return {"chargers": [{"id": CP201, "ocpp_version": "2.0.1",
                          "password_hash": PASSWORD_HASH,
                          "capabilities": {"reserve_whole_charger": True}}]}


@dataclass
class Site:
    world: World
    clock: MovableClock
    booker: EmspPeer
    t0: datetime


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS,
                                                         allow_whole_charger=True),
                             clock=clock, locations=locations(), chargers=chargers())
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.connect(CP201)
        for evse in (1, 2):
            await world.status(CP201, evse, "Available", evse=evse)
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "W1": EvseStatus.AVAILABLE, "W2": EvseStatus.AVAILABLE}))
        yield Site(world, clock, booker, clock.now)
    finally:
        await booker.close()
        await close_world(world)


async def test_a_type_2_booking_binds_a_whole_2_0_1_charger_naming_the_connector_type(
        site: Site) -> None:
    world, clock, booker = site.world, site.clock, site.booker
    start = site.t0 + timedelta(minutes=30)
    body = {"country_code": booker.country_code, "party_id": booker.party_id,
            "request_id": "W-1", "location_id": LOCATION, "booking_location_id": LOCATION,
            "period": {"start_date_time": z(start),
                       "end_date_time": z(start + timedelta(minutes=30))},
            "authorization_reference": "AUTH-W1",
            "tokens": [{"country_code": booker.country_code, "party_id": booker.party_id,
                        "uid": "BKG-W1", "type": "RFID", "contract_id": "C-W1"}],
            "booking_option": {"connector_types": [T2]}}
    status, answer, _ = await booker.call(
        "POST", f"{world.gateway.url}/ocpi/2.3.0/bookings", json=body)
    assert status == 200 and answer["data"]["reservation_status"] == "RESERVED", answer
    booking_id = answer["data"]["id"]
    binder = world.gateway.app[BOOKINGS].binder
    assert binder is not None
    await binder.run()
    assert world.received(CP201, "ReserveNow") == []  # not before its binding time

    clock.now = start - timedelta(minutes=TERMS["activation_lead_minutes"])
    await binder.run()
    [sent] = world.received(CP201, "ReserveNow")
    # The whole station: no evseId, and the type of connector to keep free.
    assert "evse_id" not in sent and sent["connector_type"] == "sType2", sent
    assert sent["id_token"]["id_token"] == "BKG-W1"
    noshow = start + timedelta(minutes=TERMS["noshow_timeout_minutes"])
    assert sent["expiry_date_time"].startswith(z(noshow)[:16])

    async def bound() -> str | None:
        await world.gateway.app[BOOKINGS_PUBLISHER].flush()
        pushed = booker.bookings.get(f"NL/EXA/{booking_id}") or {}
        uid = (pushed.get("booking_option") or {}).get("evse_uid")
        return None if uid in (None, "#NA") else str(uid)

    evse_uid = await eventually(bound)
    assert evse_uid in ("W1", "W2")
    pushed = booker.bookings[f"NL/EXA/{booking_id}"]
    assert pushed["reservation_status"] == "RESERVED"
    assert pushed["booking_option"]["connector_types"] == [T2]
    # A second run sends nothing more.
    await binder.run()
    assert len(world.received(CP201, "ReserveNow")) == 1
