"""How sessions end without a transaction ending: a reservation that expires (the gateway's
expiry clock, on the gateway's clock) or is cancelled completes its RESERVATION session; one
moved to another EVSE shows it; a START_SESSION whose car never came is INVALID, and a
reservation used by a token with no transaction after it is COMPLETED, once the sweep finds
them."""

from __future__ import annotations

from ocpp.v16 import call as call16

from ocpi_gateway.sessions.extension import SESSIONS
from ocpi_gateway.sessions.tracker import PENDING_TIMEOUT, USED_WITHOUT_TRANSACTION
from tests.commands.support import CP16, eventually, start_body
from tests.sessions.support import Rig


async def reserved(rig: Rig, evse_uid: str, minutes: float = 30) -> str:
    world = rig.world
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r", evse_uid=evse_uid,
                                                                  minutes=minutes))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("r"))["result"] == "ACCEPTED"
    found = await eventually(lambda: next(iter(world.emsp.sessions), None))
    assert found is not None
    return str(found)


async def test_an_expired_reservation_completes_its_session_at_its_expiry(rig: Rig) -> None:
    session_id = await reserved(rig, evse_uid="E1", minutes=30)
    expiry = rig.world.reserve_body("x", minutes=30)["expiry_date"]
    rig.clock.advance(minutes=31)  # the expiry clock runs on the gateway's clock
    sessions = rig.world.emsp.sessions
    assert await eventually(lambda: sessions[session_id]["status"] == "COMPLETED")
    done = sessions[session_id]
    # Ended at the reservation's expiry, not when the clock noticed it.
    assert done["end_date_time"][:16] == expiry[:16]
    assert done["kwh"] == 0


async def test_a_cancelled_reservation_completes_its_session(rig: Rig) -> None:
    session_id = await reserved(rig, evse_uid="E2")
    rig.clock.advance(minutes=3)
    reply = await rig.world.command("CANCEL_RESERVATION", {
        "response_url": rig.world.emsp.response_url("c"), "reservation_id": "R1"})
    assert reply["data"]["result"] == "ACCEPTED"
    sessions = rig.world.emsp.sessions
    assert await eventually(lambda: sessions[session_id]["status"] == "COMPLETED")
    assert sessions[session_id]["end_date_time"] == rig.clock.z()


async def test_a_reservation_moved_to_another_evse_shows_it(rig: Rig) -> None:
    world = rig.world
    session_id = await reserved(rig, evse_uid="E1")
    # E1 faults: the reservation is moved to another free EVSE of the location.
    await world.status(CP16, 1, "Faulted")
    sessions = world.emsp.sessions
    assert await eventually(lambda: sessions[session_id]["evse_uid"] != "E1")
    assert sessions[session_id]["status"] == "RESERVATION"
    assert sessions[session_id]["evse_uid"] in ("E2", "E3")


async def test_a_start_session_without_a_car_becomes_invalid(rig: Rig) -> None:
    world = rig.world
    await world.all_available()
    await world.command("START_SESSION", start_body(world, "go", evse_uid="E1",
                                                    connector_id="1"))
    assert (await world.result("go"))["result"] == "ACCEPTED"
    session_id = await eventually(lambda: next(iter(world.emsp.sessions), None))
    tracker = world.gateway.app[SESSIONS]
    assert await tracker.sweep() == 0  # not yet
    rig.clock.advance(seconds=PENDING_TIMEOUT.total_seconds())
    assert await tracker.sweep() == 1
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "INVALID")


async def test_a_reservation_used_without_a_transaction_completes(rig: Rig) -> None:
    world = rig.world
    session_id = await reserved(rig, evse_uid="E1")
    # The driver's token at the charger, then the connector leaves Reserved: used.
    await world.chargers[CP16].charger.call(call16.Authorize(id_tag="DEEMS0001"))
    await world.status(CP16, 1, "Reserved")
    await world.status(CP16, 1, "Preparing")
    tracker = world.gateway.app[SESSIONS]

    async def used() -> bool:
        session = await tracker.get(session_id)
        return session is not None and session.hold is not None \
            and session.hold.ended is not None
    assert await eventually(used)
    rig.clock.advance(seconds=USED_WITHOUT_TRANSACTION.total_seconds())
    assert await tracker.sweep() == 1
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "COMPLETED")
