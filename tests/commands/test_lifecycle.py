"""Reservation lifecycle end to end: cancel, expiry, use, charger-side removal and re-route,
and a gateway restart in the middle of a command."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.locations.extension import AVAILABILITY, LOCATIONS
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservations.extension import RESERVATIONS
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
from tests.ocpp.ocpp_test_support import Behaviour
from tests.peers.gateway import start_gateway


async def reservation_of(world: World, reservation_id: str = "R1") -> Reservation | None:
    return await world.gateway.app[RESERVATIONS].get(Partner("DE", "EMS"), reservation_id)


async def state_is(world: World, state: ReservationState, reservation_id: str = "R1") -> bool:
    reservation = await reservation_of(world, reservation_id)
    return reservation is not None and reservation.state is state


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def reserve(world: World, name: str, **kwargs: object) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body(name, **kwargs))  # type: ignore[arg-type]
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result(name))["result"] == "ACCEPTED"


async def test_cancel_known_reservation(world: World) -> None:
    await world.all_available()
    await reserve(world, "res", evse_uid="E3")
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    reply = await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("cancel"), "reservation_id": "R1"})
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("cancel"))["result"] == "ACCEPTED"
    assert world.received(CP201, "CancelReservation")[0]["reservation_id"] == ocpp_id
    assert await state_is(world, ReservationState.CANCELLED)
    holds = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert holds["E3"].holder is None


async def test_cancel_unknown_reservation(world: World) -> None:
    await world.all_available()
    reply = await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("cancel"), "reservation_id": "NOPE"})
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("cancel"))["result"] == "UNKNOWN_RESERVATION"
    assert world.all_received("CancelReservation") == []


async def _expiring_world(tmp_path: Path) -> World:
    return await open_world(tmp_path, policy=policy_doc(min_duration_minutes=0))


async def test_expiry_on_16_by_the_gateway_clock(tmp_path: Path) -> None:
    world = await _expiring_world(tmp_path)
    try:
        await world.all_available()
        await reserve(world, "exp", evse_uid="E1", minutes=2 / 60)
        assert await state_is(world, ReservationState.ACTIVE)
        # OCPP 1.6 reports nothing at expiry: the gateway's own clock ends it.
        assert await eventually(lambda: state_is(world, ReservationState.EXPIRED))
        holds = await world.gateway.app[AVAILABILITY].location(LOCATION)
        assert holds["E1"].holder is None
        assert world.emsp.command_results["exp"] == [{"result": "ACCEPTED", "message": []}]
    finally:
        await close_world(world)


async def test_expiry_on_201_reported_by_the_charger(tmp_path: Path) -> None:
    world = await _expiring_world(tmp_path)
    try:
        await world.all_available()
        await reserve(world, "exp", evse_uid="E3", minutes=30)
        ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
        await world.chargers[CP201].charger.call(call201.ReservationStatusUpdate(
            reservation_id=ocpp_id, reservation_update_status="Expired"))
        assert await eventually(lambda: state_is(world, ReservationState.EXPIRED))
    finally:
        await close_world(world)


async def test_used_by_a_16_transaction_with_the_reservation_id(world: World) -> None:
    await world.all_available()
    await reserve(world, "use", evse_uid="E1")
    ocpp_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=1, id_tag="DEEMS0001", meter_start=0, timestamp=now_z(),
        reservation_id=ocpp_id))
    assert await eventually(lambda: state_is(world, ReservationState.USED))
    holds = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert holds["E1"].holder is None


async def test_used_by_a_201_transaction_with_the_reservation_id(world: World) -> None:
    await world.all_available()
    await reserve(world, "use", evse_uid="E3")
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    await world.chargers[CP201].charger.call(call201.TransactionEvent(
        event_type="Started", timestamp=now_z(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "TX-1"}, reservation_id=ocpp_id,
        evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "DEEMS0001", "type": "ISO14443"}))
    assert await eventually(lambda: state_is(world, ReservationState.USED))


async def test_fault_reroutes_to_another_evse(world: World) -> None:
    await world.all_available()
    await reserve(world, "rr")
    first = await reservation_of(world)
    assert first is not None and first.evse_uid is not None
    # The reserved EVSE faults: H01.FR.16/17 end the charger's reservation; the gateway moves
    # it to another EVSE of the location and keeps it alive.
    if first.charge_point_id == CP16:
        await world.status(CP16, first.connector_id or 1, "Faulted")
    else:
        await world.status(CP201, 1, "Faulted", evse=first.evse_id or 1)
    assert await eventually(lambda: state_is(world, ReservationState.REROUTED))
    moved = await reservation_of(world)
    assert moved is not None and moved.evse_uid not in (None, first.evse_uid)
    assert len(world.all_received("ReserveNow")) == 2
    # Once the background work and the outbox are idle, no second result can still come.
    await world.gateway.app[RESERVATIONS].drain()
    assert await world.gateway.app[OUTBOX].drain(30)
    assert world.emsp.command_results["rr"] == [{"result": "ACCEPTED", "message": []}]


async def test_16_reserved_then_available_ends_it_and_publishes_the_real_status(
        world: World) -> None:
    """A 1.6 charger ends a reservation silently (expired or removed there): the connector
    goes Reserved → Available with no transaction. The gateway must not keep it live and
    keep publishing RESERVED until its own expiry."""
    await world.all_available()
    await world.status(CP201, 1, "Occupied", evse=1)  # E3 busy: E2 is the one alternative
    await reserve(world, "silent-end", evse_uid="E1")
    first = await reservation_of(world)
    assert first is not None and first.evse_uid == "E1"
    publisher = world.gateway.app[LOCATIONS].publisher

    def published(uid: str) -> str | None:
        evse = publisher.evse(LOCATION, uid)
        return None if evse is None else evse.status.value

    await world.status(CP16, 1, "Reserved")
    assert await eventually(lambda: published("E1") == "RESERVED")
    await world.status(CP16, 1, "Available")
    assert await eventually(lambda: state_is(world, ReservationState.REROUTED))
    moved = await reservation_of(world)
    assert moved is not None and moved.evse_uid == "E2"
    assert await eventually(lambda: published("E1") == "AVAILABLE")
    assert await eventually(lambda: published("E2") == "RESERVED")
    # Still EVSE-specific at the charger: the ReserveNow names connector 2.
    assert [p["connector_id"] for p in world.received(CP16, "ReserveNow")] == [1, 2]


async def test_fault_with_no_alternative_sends_canceled_reservation(world: World) -> None:
    await world.connect(CP16)
    await world.connect(CP201)
    await world.status(CP16, 1, "Charging")
    await world.status(CP16, 2, "Charging")
    await world.status(CP201, 1, "Available", evse=1)
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.CHARGING, "E2": EvseStatus.CHARGING, "E3": EvseStatus.AVAILABLE}))
    await reserve(world, "gone")
    await world.status(CP201, 1, "Faulted", evse=1)
    results = await eventually(lambda: len(world.emsp.command_results["gone"]) >= 2)
    assert results
    assert world.emsp.command_results["gone"][1]["result"] == "CANCELED_RESERVATION"
    assert await state_is(world, ReservationState.REMOVED)


async def test_restart_mid_command_still_gets_a_result(tmp_path: Path) -> None:
    world = await open_world(tmp_path, result_seconds=6, charger_seconds=5)
    try:
        hang = asyncio.Event()
        await world.connect(CP16, Behaviour(hang=hang))
        await world.status(CP16, 1, "Available")
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "E1": EvseStatus.AVAILABLE}))
        reply = await world.command("RESERVE_NOW", world.reserve_body("crash", evse_uid="E1"))
        assert reply["data"]["result"] == "ACCEPTED"
        assert await eventually(lambda: world.received(CP16, "ReserveNow"))
        # The gateway goes down with the charger's answer outstanding, and comes back. The
        # result is TIMEOUT, not EVSE_INOPERATIVE: the gateway closing the charger's socket
        # on its way down is no answer of the charger's.
        await world.gateway.stop()
        hang.set()
        world.gateway = await start_gateway(world.gateway.settings)
        result = await world.result("crash")
        assert result["result"] == "TIMEOUT"
    finally:
        await close_world(world)



async def test_housekeeping_forgets_settled_commands_and_expired_command_tokens(
        world: World) -> None:
    from datetime import timedelta

    from ocpi_gateway.commands.handlers import COMMAND_SERVICE
    from ocpi_gateway.commands.records import COLLECTION
    from ocpi_gateway.tokens.handlers import TOKENS
    from ocpi_gateway.tokens.repository import COMMAND_TOKENS

    store = world.gateway.app[TOKENS]._store
    await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("gone"), "reservation_id": "NOPE"})
    assert (await world.result("gone"))["result"] == "UNKNOWN_RESERVATION"
    tokens = world.gateway.app[TOKENS]
    await tokens.remember_command_token("OLD", datetime.now(UTC) - timedelta(minutes=1))
    await tokens.remember_command_token("NEW", datetime.now(UTC) + timedelta(minutes=10))
    service = world.gateway.app[COMMAND_SERVICE]
    assert await service.housekeeping() == 1  # only the expired token; the record is recent
    assert await store.count(COLLECTION) == 1
    service._retention = 0.0
    assert await service.housekeeping() == 1
    assert await store.count(COLLECTION) == 0
    assert [d["uid"] for d in await store.find(COMMAND_TOKENS)] == ["NEW"]
