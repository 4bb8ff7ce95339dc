"""What an unused reservation costs, with real chargers and a real eMSP in both versions: a
no-show is billed (the tariff's RESERVATION_EXPIRES fee and its reserved time), a cancellation
within the free window is not and one after it is (the time it held the EVSE); what the
CPO's side ended is never billed, and a no-show billed before the charger's late report of a
fault is credited. Every end is told to the unused-reservation listeners (enforcement)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.cdrs.extension import CDRS
from ocpi_gateway.cdrs.service import UnusedHold
from ocpi_gateway.sessions.models import HoldEnd
from tests.cdrs.conftest import FREE_CANCELLATION_MINUTES
from tests.cdrs.support import amount, listed, minutes, one_cdr, volumes
from tests.commands.support import CP16, CP201, World, eventually
from tests.sessions.support import Rig


def told(world: World) -> list[UnusedHold]:
    events: list[UnusedHold] = []

    async def listener(event: UnusedHold) -> None:
        events.append(event)

    world.gateway.app[CDRS].add_unused_listener(listener)
    return events


async def reserve(rig: Rig, evse_uid: str = "E1", minutes: float = 30) -> dict[str, Any]:
    world = rig.world
    body = {**world.reserve_body("r", evse_uid=evse_uid),
            "expiry_date": rig.clock.z(minutes=minutes)}  # on the gateway's clock
    reply = await world.command("RESERVE_NOW", body)
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("r"))["result"] == "ACCEPTED"
    found = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert found is not None
    return dict(found)


async def completed(world: World, session_id: str) -> None:
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "COMPLETED")


async def cancel(world: World) -> None:
    reply = await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("c"), "reservation_id": "R1"})
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("c"))["result"] == "ACCEPTED"


async def test_a_no_show_is_billed_its_fee_and_reserved_time(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    events = told(world)
    await world.all_available()
    reserved_at, expiry = clock.z(), clock.z(minutes=30)
    session = await reserve(rig, minutes=30)
    clock.advance(minutes=31)  # the gateway's expiry clock ends it
    await completed(world, session["id"])
    cdr = await one_cdr(world)
    assert cdr["session_id"] == session["id"]
    # From the reservation's start to its expiry (not when the expiry clock noticed).
    assert (cdr["start_date_time"], cdr["end_date_time"]) == (reserved_at, expiry)
    assert cdr["cdr_location"]["evse_uid"] == "E1"
    assert Decimal(str(cdr["total_energy"])) == 0
    # The no-show fee (5.00) and 30 minutes held at 1.20/h (0.60).
    assert amount(cdr["total_reservation_cost"], version) == Decimal("5.60")
    assert amount(cdr["total_cost"], version) == Decimal("5.60")
    kind = "RESERVATION_TIME" if version == "2.2.1" else "RESERVATION_EXPIRES"
    assert minutes(volumes(cdr, kind)) == 30
    assert "no-show" in cdr["remark"]
    if version == "2.3.0":
        assert "booking_id" not in cdr  # a reservation, not a booking
    assert [(e.ended, e.free_cancellation, e.cdr is not None) for e in events] == [
        (HoldEnd.EXPIRED, False, True)]
    assert events[0].token.uid == "DEEMS0001" and events[0].evse_uid == "E1"


async def test_a_cancellation_in_the_free_window_costs_nothing(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    events = told(world)
    await world.all_available()
    session = await reserve(rig)
    clock.advance(minutes=FREE_CANCELLATION_MINUTES - 1)
    await cancel(world)
    await completed(world, session["id"])
    assert [(e.ended, e.free_cancellation, e.cdr) for e in events] == [
        (HoldEnd.CANCELLED, True, None)]
    assert world.emsp.cdrs == {}
    assert (await listed(world))[0] == []


async def test_a_cancellation_after_the_free_window_bills_the_time_held(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    events = told(world)
    await world.all_available()
    session = await reserve(rig)
    clock.advance(minutes=20)
    await cancel(world)
    await completed(world, session["id"])
    cdr = await one_cdr(world)
    # 20 minutes held at 1.20/h; no no-show fee.
    assert minutes(volumes(cdr, "RESERVATION_TIME")) == 20
    assert amount(cdr["total_cost"], version) == Decimal("0.40")
    assert "cancelled" in cdr["remark"]
    assert [(e.ended, e.free_cancellation) for e in events] == [(HoldEnd.CANCELLED, False)]


async def test_a_reservation_the_cpo_ended_is_never_billed(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    events = told(world)
    await world.all_available()
    # Every other EVSE of the location busy: a fault of E1 leaves nowhere to move it.
    await world.status(CP16, 2, "Charging")
    await world.status(CP201, 1, "Occupied", evse=1)
    session = await reserve(rig)
    clock.advance(minutes=20)
    await world.status(CP16, 1, "Faulted")
    await completed(world, session["id"])
    assert await eventually(lambda: world.emsp.command_results.get("r", [])[1:])
    assert world.emsp.command_results["r"][1]["result"] == "CANCELED_RESERVATION"
    assert [(e.ended, e.cdr) for e in events] == [(HoldEnd.CPO_CANCELLED, None)]
    assert world.emsp.cdrs == {}


async def test_a_billed_no_show_is_credited_on_a_late_fault_report(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    await world.all_available()
    session = await reserve(rig, minutes=30)
    fault_at = clock.z(minutes=12)
    clock.advance(minutes=31)
    await completed(world, session["id"])
    original = await one_cdr(world)
    # The charger, back online, reports the fault it had during the reservation.
    await world.chargers[CP16].charger.call(call16.StatusNotification(
        connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=fault_at))
    assert await eventually(lambda: len(world.emsp.cdrs) == 2)
    credit = world.emsp.cdrs[original["id"] + "-C"]
    assert credit["credit"] is True and credit["credit_reference_id"] == original["id"]
    assert amount(credit["total_cost"], version) == -amount(original["total_cost"], version)
    assert credit["charging_periods"] == original["charging_periods"]
    # The original is unchanged and the credit came after it.
    assert world.emsp.cdrs[original["id"]] == original
    posted = [r.body["id"] for r in world.emsp.received
              if r.method == "POST" and r.path.endswith("/cdrs")]
    assert posted == [original["id"], credit["id"]]
    # A second report credits nothing more.
    await world.chargers[CP16].charger.call(call16.StatusNotification(
        connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=fault_at))
    pulled, _ = await listed(world)
    assert [c["id"] for c in pulled] == [original["id"], credit["id"]]


async def test_a_fault_after_the_reservation_credits_nothing(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    session = await reserve(rig, minutes=30)
    clock.advance(minutes=31)
    await completed(world, session["id"])
    original = await one_cdr(world)
    await world.chargers[CP16].charger.call(call16.StatusNotification(
        connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=clock.z()))
    pulled, _ = await listed(world)
    assert [c["id"] for c in pulled] == [original["id"]]


async def test_a_no_show_the_201_charger_reports_is_billed_the_same(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    await world.all_available()
    session = await reserve(rig, evse_uid="E3", minutes=30)
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    clock.advance(minutes=30)
    await world.chargers[CP201].charger.call(call201.ReservationStatusUpdate(
        reservation_id=ocpp_id, reservation_update_status="Expired"))
    await completed(world, session["id"])
    cdr = await one_cdr(world)
    assert cdr["cdr_location"]["evse_uid"] == "E3"
    assert amount(cdr["total_cost"], version) == Decimal("5.60")
    kind = "RESERVATION_TIME" if version == "2.2.1" else "RESERVATION_EXPIRES"
    assert minutes(volumes(cdr, kind)) == 30
