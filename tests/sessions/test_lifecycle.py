"""A session's life with real chargers and a real eMSP, in both OCPI versions: a reservation
is a RESERVATION session, the transaction on it makes the same session ACTIVE, meter values
give kWh and charging periods, the end COMPLETED with its total cost; what the eMSP holds
from the pushes (a PUT, then PATCHes adding periods) is what GET {sessions} answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.commands.support import CP16, World, eventually, token
from tests.sessions.support import Rig, event201, meter16, start16, stop16


async def listed(world: World) -> list[dict[str, Any]]:
    version = world.emsp.ocpi_version
    status, body, _ = await world.emsp.call("GET", f"{world.gateway.url}/ocpi/{version}/sessions")
    assert status == 200 and body["status_code"] == 1000, body
    return list(body["data"])


def without_last_updated(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k != "last_updated"}


def cost(session: dict[str, Any], version: str) -> Decimal:
    total = session["total_cost"]
    return Decimal(str(total["excl_vat"] if version == "2.2.1" else total["before_taxes"]))


async def test_reservation_becomes_the_active_session_then_completes(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r", evse_uid="E1"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("r"))["result"] == "ACCEPTED"
    reserved = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert reserved is not None
    assert reserved["status"] == "RESERVATION"
    assert (reserved["evse_uid"], reserved["connector_id"]) == ("E1", "1")
    assert reserved["auth_method"] == "COMMAND"
    assert reserved["cdr_token"] == {k: token()[k] for k in (
        "country_code", "party_id", "uid", "type", "contract_id")}
    assert reserved["kwh"] == 0
    session_id = reserved["id"]

    clock.advance(minutes=10)
    ocpp_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    tx = await start16(world, clock, reservation_id=ocpp_id)
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "ACTIVE")
    assert len(world.emsp.sessions) == 1  # the same session, not a second one
    clock.advance(minutes=10)
    await meter16(world, clock, tx, 5000)
    clock.advance(minutes=20)
    await meter16(world, clock, tx, 11000)
    assert await eventually(lambda: world.emsp.sessions[session_id]["kwh"] == 11)
    clock.advance(minutes=5)
    await stop16(world, clock, tx, 12000)
    done = await eventually(lambda: world.emsp.sessions[session_id]["status"] == "COMPLETED"
                            and world.emsp.sessions[session_id])
    assert done["kwh"] == 12
    assert done["end_date_time"] == clock.z()
    # Reserved 10 min at 1.20/h, 12 kWh at 0.30, charged 35 min at 2.00/h (whole minutes):
    # 0.20 + 3.60 + 1.1666... = 4.97 before taxes.
    assert cost(done, version) == Decimal("4.97")
    assert done["charging_periods"][0]["dimensions"][0]["type"] == "RESERVATION_TIME"
    energy = [d["volume"] for p in done["charging_periods"] for d in p["dimensions"]
              if d["type"] == "ENERGY"]
    assert sum(energy) == 12
    methods = [m for m, sid, _ in world.emsp.session_pushes if sid == session_id]
    assert methods[0] == "PUT" and methods.count("PUT") == 1 and "PATCH" in methods
    # The pushes add up to the whole session.
    [whole] = await listed(world)
    assert without_last_updated(whole) == without_last_updated(done)


async def test_a_201_transaction_in_kwh_is_a_session_from_its_first_event(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/{world.emsp.ocpi_version}/tokens/DE/EMS/DEEMS0001",
        json=token())
    assert body["status_code"] == 1000, body
    await event201(world, clock, "Started", "TX-1", seq_no=0, kwh=100.0)
    active = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert active is not None and active["status"] == "ACTIVE"
    assert active["auth_method"] == "WHITELIST" and active["evse_uid"] == "E3"
    clock.advance(minutes=30)
    await event201(world, clock, "Updated", "TX-1", seq_no=1, kwh=107.5, id_tag=None,
                   trigger="MeterValuePeriodic")
    assert await eventually(lambda: world.emsp.sessions[active["id"]]["kwh"] == 7.5)
    clock.advance(minutes=30)
    await event201(world, clock, "Ended", "TX-1", seq_no=2, kwh=115.0, id_tag=None,
                   trigger="EVCommunicationLost")
    assert await eventually(lambda: world.emsp.sessions[active["id"]]["status"] == "COMPLETED")
    done = world.emsp.sessions[active["id"]]
    assert done["kwh"] == 15
    # 15 kWh at 0.30 and an hour at 2.00.
    assert cost(done, world.emsp.ocpi_version) == Decimal("6.50")
    [whole] = await listed(world)
    assert without_last_updated(whole) == without_last_updated(done)
