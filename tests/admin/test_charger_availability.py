"""An operator takes an EVSE out of service (ChangeAvailability Inoperative) and back, end to
end: real OCPP 1.6 and 2.0.1 chargers, a real eMSP peer receiving the Locations pushes and the
CommandResults (validated against the OCPI OpenAPI files), the admin API's answers checked
against its own document. Out of service, an EVSE is published INOPERATIVE whatever the
charger reports, is never picked, its reservations move (or end when nothing fits), and the
bookings' supply leaves it out; the mark survives a restart and holds across instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway import keys
from ocpi_gateway.config import ListenSettings
from ocpi_gateway.locations.extension import AVAILABILITY, LOCATIONS
from ocpi_gateway.locations.service_marks import COLLECTION as MARKS
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservations.extension import CAPACITY, RESERVATIONS
from tests.admin.support import AdminClient, write_operators
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.conftest import free_port
from tests.ocpp.operator_chargers import Ops, OpsCharger16, OpsCharger201
from tests.peers.gateway import RunningGateway, start_gateway

BASE = "/admin/api/chargers"
LOC_KEY = f"NL/EXA/{LOCATION}"


async def _connect_all(world: World, ops16: Ops, ops201: Ops) -> None:
    await world.connect(CP16, charger_class=OpsCharger16, ops=ops16)
    await world.connect(CP201, charger_class=OpsCharger201, ops=ops201)
    await world.status(CP16, 1, "Available")
    await world.status(CP16, 2, "Available")
    await world.status(CP201, 1, "Available", evse=1)
    await world.status(CP201, 2, "Available", evse=2)
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE, "E3": EvseStatus.AVAILABLE}))


def _pushed(world: World, evse_uid: str) -> str | None:
    """The EVSE's status as the eMSP's Locations receiver holds it."""
    location = world.emsp.locations.get(LOC_KEY) or {}
    evse = next((e for e in location.get("evses", []) if e["uid"] == evse_uid), None)
    return evse["status"] if evse else None


async def _reserve(world: World, name: str, evse_uid: str | None = None) -> dict[str, Any]:
    reply = await world.command("RESERVE_NOW", world.reserve_body(name, name,
                                                                  evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    return await world.result(name)


async def _reservation(alice: AdminClient, name: str) -> dict[str, Any]:
    answer = await alice.call("GET", f"/admin/api/reservations/DE-EMS/{name}")
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _reservable(world: World | RunningGateway) -> dict[str, bool]:
    gateway = world.gateway if isinstance(world, World) else world
    candidates = await gateway.app[RESERVATIONS].candidates.candidates(LOCATION)
    return {c.evse_uid: c.reservable for c in candidates}


async def _supply(world: World) -> set[str]:
    """The EVSEs the bookings' capacity timeline counts at the site."""
    app = world.gateway.app
    candidates = await app[RESERVATIONS].candidates.candidates(LOCATION)
    table = await app[CAPACITY].ensure_site(LOCATION, candidates)
    return set(table.evse_masks)


@dataclass
class Setup:
    world: World
    alice: AdminClient
    ops16: Ops
    ops201: Ops


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    # Bookings possible at the site: the capacity timeline counts its supply.
    world = await open_world(tmp_path, operators_file=operators,
                             policy=policy_doc(bookings={"enabled": True}))
    ops16, ops201 = Ops(), Ops()
    await _connect_all(world, ops16, ops201)
    alice = AdminClient(world.gateway.url)
    assert (await alice.use_token("alice")).status == 201
    yield Setup(world, alice, ops16, ops201)
    await alice.close()
    await close_world(world)


async def test_out_of_service_publishes_reroutes_refuses_and_survives_a_restart(
        setup: Setup) -> None:
    world, alice = setup.world, setup.alice
    assert (await _reserve(world, "R1", "E1"))["result"] == "ACCEPTED"
    assert await eventually(lambda: _pushed(world, "E1") == "RESERVED")
    booked = await _reservation(alice, "R1")
    assert booked["evse_uid"] == "E1"

    out = await alice.call("POST", f"{BASE}/{CP16}/change-availability",
                           json={"operational_status": "Inoperative", "evse_uid": "E1"})
    assert out.status == 200, out.body
    assert (out.body["status"], out.body["evses"]) == (
        "Accepted", [{"location_id": LOCATION, "evse_uid": "E1"}])
    assert setup.ops16.received[-1] == ("ChangeAvailability",
                                        {"connector_id": 1, "type": "Inoperative"})
    # Published INOPERATIVE to the eMSP (the push validated against the OpenAPI files).
    assert await eventually(lambda: _pushed(world, "E1") == "INOPERATIVE")
    # Its reservation moved to another EVSE: withdrawn at the charger, reserved there.
    moved = await eventually(lambda: _when(_reservation(alice, "R1"),
                                           lambda r: r["state"] == "REROUTED"))
    assert moved["evse_uid"] in ("E2", "E3") and moved["live"] is True
    # Whichever came first, the charger's Unavailable or its answer, moved it.
    assert moved["history"][-1]["reason"].startswith("re-routed: EVSE ")
    [withdrawn] = world.received(CP16, "CancelReservation")
    assert withdrawn["reservation_id"] == booked["ocpp_reservation_id"]
    # No longer a candidate of the policy nor supply of the bookings.
    assert (await _reservable(world))["E1"] is False
    assert (await _reservable(world))["E2"] is True
    assert await _supply(world) == {"E2", "E3"}
    refused = await world.command("RESERVE_NOW", world.reserve_body("R2", "R2",
                                                                    evse_uid="E1"))
    assert refused["data"]["result"] == "ACCEPTED"
    assert (await world.result("R2"))["result"] == "REJECTED"

    # The charger reporting Available again (a reboot) does not bring it back: E2's later
    # report proves E1's was applied first (one charger's events apply in order).
    await world.status(CP16, 1, "Available")
    await world.status(CP16, 2, "Charging")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E2": EvseStatus.CHARGING}))
    assert await world.evse_statuses(LOCATION, {"E1": EvseStatus.INOPERATIVE})

    # A restart on the same store: the charger reconnects reporting Available, and E1
    # stays out of service.
    settings = world.gateway.settings
    await world.factory.close()
    await world.gateway.stop()
    world.gateway = await start_gateway(settings)
    await alice.close()
    setup.alice = alice = AdminClient(world.gateway.url)
    assert (await alice.use_token("alice")).status == 201
    await world.connect(CP16, charger_class=OpsCharger16, ops=setup.ops16)
    await world.status(CP16, 1, "Available")
    await world.status(CP16, 2, "Available")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E2": EvseStatus.AVAILABLE}))
    assert await world.evse_statuses(LOCATION, {"E1": EvseStatus.INOPERATIVE})
    assert (await _reservable(world))["E1"] is False

    # Back in service: AVAILABLE to the eMSP, reservable again, the mark gone.
    back = await alice.call("POST", f"{BASE}/{CP16}/change-availability",
                            json={"operational_status": "Operative", "evse_uid": "E1"})
    assert back.status == 200 and back.body["status"] == "Accepted"
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE}))
    assert await eventually(lambda: _pushed(world, "E1") == "AVAILABLE")
    assert (await _reservable(world))["E1"] is True
    assert await _supply(world) == {"E1", "E2", "E3"}
    assert await world.gateway.app[keys.STORE].find(MARKS) == []


async def test_a_scheduled_change_and_a_reservation_nothing_else_fits(setup: Setup) -> None:
    world, alice = setup.world, setup.alice
    # Every other EVSE of the site busy: nothing to move a reservation to.
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.CHARGING, "E2": EvseStatus.CHARGING}))
    assert (await _reserve(world, "R3", "E3"))["result"] == "ACCEPTED"
    # A charger answering Scheduled sends no status now: the gateway acts on its answer.
    setup.ops201.availability = "Scheduled"
    out = await alice.call("POST", f"{BASE}/{CP201}/change-availability",
                           json={"operational_status": "Inoperative", "evse_id": 1})
    assert (out.status, out.body["status"], out.body["outcome"]) == (
        200, "Scheduled", "scheduled")
    assert out.body["evses"] == [{"location_id": LOCATION, "evse_uid": "E3"}]
    # The reservation ends as for a broken charger: CANCELED_RESERVATION to the eMSP.
    results = await eventually(lambda: world.emsp.command_results.get("R3", [])[1:])
    assert [r["result"] for r in results] == ["CANCELED_RESERVATION"]
    ended = await _reservation(alice, "R3")
    assert ended["state"] == "REMOVED" and "no alternative" in ended["history"][-1]["reason"]
    assert [p["reservation_id"] for p in world.received(CP201, "CancelReservation")] == [
        ended["ocpp_reservation_id"]]
    assert await eventually(lambda: _pushed(world, "E3") == "INOPERATIVE")
    # Its report of Available (the change done) keeps it out; E4, on the same charger but
    # not out of service, follows its own reports.
    await world.status(CP201, 1, "Available", evse=1)
    await world.status(CP201, 2, "Occupied", evse=2)
    assert await eventually(lambda: world.evse_statuses("LOC-2", {
        "E4": EvseStatus.CHARGING}))
    assert await world.evse_statuses(LOCATION, {"E3": EvseStatus.INOPERATIVE})
    # Refused by the charger: nothing changes on the gateway.
    setup.ops201.availability = "Rejected"
    refused = await alice.call("POST", f"{BASE}/{CP201}/change-availability",
                               json={"operational_status": "Operative", "evse_id": 1})
    assert (refused.status, refused.body["status"]) == (200, "Rejected")
    await world.status(CP201, 2, "Available", evse=2)
    assert await eventually(lambda: world.evse_statuses("LOC-2", {
        "E4": EvseStatus.AVAILABLE}))
    assert await world.evse_statuses(LOCATION, {"E3": EvseStatus.INOPERATIVE})
    # The whole station back (no evse_id).
    setup.ops201.availability = "Accepted"
    back = await alice.call("POST", f"{BASE}/{CP201}/change-availability",
                            json={"operational_status": "Operative"})
    assert back.status == 200 and {e["evse_uid"] for e in back.body["evses"]} == {"E3", "E4"}
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E3": EvseStatus.AVAILABLE}))
    assert await eventually(lambda: _pushed(world, "E3") == "AVAILABLE")


async def _when(value: Any, condition: Any) -> Any:
    got = await value
    return got if condition(got) else None


async def test_across_two_instances_on_redis(tmp_path: Path, redis_url: str) -> None:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    world = await open_world(tmp_path, operators_file=operators, redis_url=redis_url,
                             ocpp={"presence_ttl_seconds": 1.5})
    port = free_port()
    other = await start_gateway(world.gateway.settings.model_copy(update={
        "listen": ListenSettings(host="127.0.0.1", port=port),
        "public_url": f"http://127.0.0.1:{port}", "instance_id": "gw-other"}))
    alice = AdminClient(other.url)
    try:
        ops16 = Ops()
        await _connect_all(world, ops16, Ops())
        assert (await alice.use_token("alice")).status == 201

        async def routed() -> bool:
            # The other instance knows where the chargers are once presence is written.
            answer = await alice.call("GET", f"{BASE}/{CP16}")
            return bool(answer.body["online"])

        assert await eventually(routed)
        # The operator on the instance that does not hold the charger.
        out = await alice.call("POST", f"{BASE}/{CP16}/change-availability",
                               json={"operational_status": "Inoperative", "evse_uid": "E2"})
        assert (out.status, out.body["status"]) == (200, "Accepted"), out.body
        assert await eventually(lambda: _pushed(world, "E2") == "INOPERATIVE")
        # Both instances: the shared availability, and each one's policy candidates.
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "E2": EvseStatus.INOPERATIVE}))
        assert (await _reservable(world))["E2"] is False
        assert await eventually(lambda: _when(_reservable(other), lambda r: not r["E2"]))
        assert (await other.app[AVAILABILITY].get(LOCATION, "E2")).status is \
            EvseStatus.INOPERATIVE  # type: ignore[union-attr]
        refused = await world.command("RESERVE_NOW", world.reserve_body("R4", "R4",
                                                                        evse_uid="E2"))
        assert refused["data"]["result"] == "ACCEPTED"
        assert (await world.result("R4"))["result"] == "REJECTED"
        # The charger moves to the other instance: the mark goes with it.
        await world.chargers[CP16].disconnect()
        world.gateway, held_by = other, world.gateway
        try:
            await world.connect(CP16, charger_class=OpsCharger16, ops=ops16)
            await world.status(CP16, 2, "Available")
            await world.status(CP16, 1, "Charging")
            assert await eventually(lambda: world.evse_statuses(LOCATION, {
                "E1": EvseStatus.CHARGING}))
            assert await world.evse_statuses(LOCATION, {"E2": EvseStatus.INOPERATIVE})
            assert other.app[LOCATIONS].publisher.chargers.marks.is_out(LOCATION, "E2")
        finally:
            world.gateway = held_by
        back = await alice.call("POST", f"{BASE}/{CP16}/change-availability",
                                json={"operational_status": "Operative", "evse_uid": "E2"})
        assert back.status == 200, back.body
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "E2": EvseStatus.AVAILABLE}))
        assert await eventually(lambda: _when(_reservable(world), lambda r: r["E2"]))
    finally:
        await alice.close()
        await other.stop()
        await close_world(world)
