"""Parking time from the charger's word, in both OCPI versions: the EV stops asking for energy
(2.0.1 chargingState SuspendedEV; 1.6 StatusNotification SuspendedEV) and the time until it
asks again, or the session ends, is PARKING_TIME, priced by the tariff's PARKING_TIME element,
its energy (none) counted in the charging time before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16

from tests.cdrs.support import amount, minutes, one_cdr, volumes
from tests.commands.support import CP16, close_world, token
from tests.sessions.support import (
    VERSIONS,
    Rig,
    event201,
    meter16,
    open_rig,
    start16,
    stop16,
    tariffs_doc,
)


def parking_tariffs() -> dict[str, Any]:
    doc = tariffs_doc()
    doc["tariffs"][0]["elements"].append(
        {"price_components": [{"type": "PARKING_TIME", "price": "6.00", "vat": 21,
                               "step_size": 300}]})
    return doc


@pytest.fixture(params=VERSIONS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path, request.param, tariffs=parking_tariffs())
    yield opened
    await close_world(opened.world)


async def push_token(rig: Rig) -> None:
    world = rig.world
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0001", json=token())
    assert body["status_code"] == 1000


# 40 min charging 4 kWh: 1.20 + 1.3333.. (2.00/h); 15 min parked at 6.00/h = 1.50.
EXPECTED = {"charging_minutes": 40, "parking_minutes": 15, "total_parking_minutes": 15,
            "total_minutes": 55, "kwh": 4, "parking_cost": Decimal("1.50"),
            "total_cost": Decimal("4.03")}


def figures(cdr: dict[str, Any], version: str) -> dict[str, Any]:
    """What the CDR says of charging and parking, in the units EXPECTED uses."""
    return {"charging_minutes": minutes(volumes(cdr, "TIME")),
            "parking_minutes": minutes(volumes(cdr, "PARKING_TIME")),
            "total_parking_minutes": minutes(cdr["total_parking_time"]),
            "total_minutes": minutes(cdr["total_time"]),
            "kwh": volumes(cdr, "ENERGY"),
            "parking_cost": amount(cdr["total_parking_cost"], version),
            "total_cost": amount(cdr["total_cost"], version)}


async def test_201_charging_state_makes_parking_time(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    await push_token(rig)
    await event201(world, clock, "Started", "TX-P", seq_no=0, kwh=10.0,
                   charging_state="Charging")
    clock.advance(minutes=40)
    await event201(world, clock, "Updated", "TX-P", seq_no=1, kwh=14.0, id_tag=None,
                   trigger="ChargingStateChanged", charging_state="SuspendedEV")
    clock.advance(minutes=15)
    await event201(world, clock, "Ended", "TX-P", seq_no=2, kwh=14.0, id_tag=None,
                   trigger="EVDeparted")
    assert figures(await one_cdr(world), world.emsp.ocpi_version) == EXPECTED


async def test_16_suspended_ev_makes_parking_time(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    await push_token(rig)
    tx = await start16(world, clock)
    clock.advance(minutes=40)
    await meter16(world, clock, tx, 4000)
    await world.chargers[CP16].charger.call(call16.StatusNotification(
        connector_id=1, error_code="NoError", status="SuspendedEV", timestamp=clock.z()))
    clock.advance(minutes=15)
    await stop16(world, clock, tx, 4000)
    assert figures(await one_cdr(world), world.emsp.ocpi_version) == EXPECTED
