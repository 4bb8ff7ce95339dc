"""The full path with real chargers (OCPP 1.6 and 2.0.1) and a real eMSP in both OCPI
versions: reserve → use → the session RESERVATION → ACTIVE → COMPLETED → one CDR with the
energy, the charging time and the reservation's cost, POSTed once and listed by GET {cdrs};
every body valid against the official OpenAPI of its version (the eMSP peer checks them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.cdrs.support import after_taxes, amount, listed, minutes, one_cdr, volumes
from tests.commands.support import CP16, CP201, eventually, start_body
from tests.sessions.support import Rig, event201, meter16, start16, stop16


async def use_reservation_16(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    ocpp_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    tx = await start16(world, clock, reservation_id=ocpp_id)
    clock.advance(minutes=10)
    await meter16(world, clock, tx, 5000)
    clock.advance(minutes=20)
    await meter16(world, clock, tx, 11000)
    clock.advance(minutes=5)
    await stop16(world, clock, tx, 12000)


async def use_reservation_201(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    await event201(world, clock, "Started", "TX-R", seq_no=0, kwh=40.0,
                   reservation_id=ocpp_id)
    clock.advance(minutes=10)
    await event201(world, clock, "Updated", "TX-R", seq_no=1, kwh=45.0, id_tag=None,
                   trigger="MeterValuePeriodic")
    clock.advance(minutes=20)
    await event201(world, clock, "Updated", "TX-R", seq_no=2, kwh=51.0, id_tag=None,
                   trigger="MeterValuePeriodic")
    clock.advance(minutes=5)
    await event201(world, clock, "Ended", "TX-R", seq_no=3, kwh=52.0, id_tag=None,
                   trigger="StopAuthorized")


@pytest.mark.parametrize("evse_uid, use", [("E1", use_reservation_16),
                                           ("E3", use_reservation_201)],
                         ids=["ocpp16", "ocpp201"])
async def test_a_used_reservation_is_billed_with_its_charging(rig: Rig, evse_uid: str,
                                                              use: Any) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    await world.all_available()
    reserved_at = clock.z()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r", evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("r"))["result"] == "ACCEPTED"
    session = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert session is not None and session["status"] == "RESERVATION"
    assert world.emsp.cdrs == {}
    clock.advance(minutes=10)
    await use(rig)
    assert await eventually(
        lambda: world.emsp.sessions[session["id"]]["status"] == "COMPLETED")

    cdr = await one_cdr(world)
    assert cdr["session_id"] == session["id"]
    assert cdr["start_date_time"] == reserved_at  # the reservation's start
    assert cdr["end_date_time"] == clock.z()
    assert cdr["cdr_location"]["evse_uid"] == evse_uid
    assert cdr["cdr_token"]["uid"] == "DEEMS0001" and cdr["auth_method"] == "COMMAND"
    assert [t["id"] for t in cdr["tariffs"]] == ["T1"]
    assert Decimal(str(cdr["total_energy"])) == 12
    assert volumes(cdr, "ENERGY") == 12
    # 35 minutes of charging, 10 of reservation.
    assert minutes(cdr["total_time"]) == 35
    assert minutes(volumes(cdr, "TIME")) == 35
    assert minutes(volumes(cdr, "RESERVATION_TIME")) == 10
    # 12 kWh at 0.30 = 3.60; 35 min at 2.00/h = 1.1666...; reserved 10 min at 1.20/h = 0.20.
    assert amount(cdr["total_energy_cost"], version) == Decimal("3.60")
    assert amount(cdr["total_time_cost"], version) == Decimal("1.17")
    assert amount(cdr["total_reservation_cost"], version) == Decimal("0.20")
    assert amount(cdr["total_cost"], version) == Decimal("4.97")
    # 21 % VAT on the exact 4.9666...: 1.043 → 1.04.
    assert after_taxes(cdr["total_cost"], version) == Decimal("6.01")
    assert "credit" not in cdr

    # The pull model gives the same CDR; only one was ever POSTed.
    [pulled], _ = await listed(world)
    assert pulled == cdr
    posts = [r for r in world.emsp.received if r.method == "POST" and "/cdrs" in r.path]
    assert len(posts) == 1


async def test_reserve_then_start_from_the_app_is_one_session_and_one_cdr(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r", evse_uid="E1"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("r"))["result"] == "ACCEPTED"
    reserved = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert reserved is not None
    clock.advance(minutes=10)
    await world.command("START_SESSION", start_body(world, "go", evse_uid="E1",
                                                    connector_id="1"))
    assert (await world.result("go"))["result"] == "ACCEPTED"
    tx = await start16(world, clock)  # the charger names no reservation id
    assert await eventually(
        lambda: world.emsp.sessions[reserved["id"]]["status"] == "ACTIVE")
    clock.advance(minutes=30)
    await stop16(world, clock, tx, 5000)
    assert await eventually(
        lambda: world.emsp.sessions[reserved["id"]]["status"] == "COMPLETED")
    assert list(world.emsp.sessions) == [reserved["id"]]
    cdr = await one_cdr(world)
    assert cdr["session_id"] == reserved["id"]
    # Reserved 10 min at 1.20/h, 5 kWh at 0.30, 30 min at 2.00/h.
    assert amount(cdr["total_reservation_cost"], version) == Decimal("0.20")
    assert amount(cdr["total_cost"], version) == Decimal("2.70")
