"""``reservation_only: true`` (policy.yaml, per location): walk-ins are refused at that site,
its chargers authorize only the tokens of a reservation or booking there. Real 1.6 and 2.0.1
chargers, a real eMSP that pushes its tokens and reserves; LOC-2 (not reservation_only) is
the control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from structlog.testing import capture_logs

from ocpi_gateway.domain.authorization import AuthorizationDecision, AuthorizationStatus
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.records import Reservation
from ocpi_gateway.reservations.extension import RESERVATIONS
from ocpi_gateway.reservations.reservation_only import ReservationOnlyAuthorizer
from tests.bookings.support import Clock, at, booking
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
    start_body,
    token,
)
from tests.store.test_reservation_records_contract import record

WALK_IN = "DEEMS0002"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    policy = {**policy_doc(), "locations": {LOCATION: {"reservation_only": True}}}
    w = await open_world(tmp_path, policy=policy)
    for uid in ("DEEMS0001", WALK_IN):
        status, body, _ = await w.emsp.call(
            "PUT", f"{w.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/{uid}", json=token(uid))
        assert status == 200 and body["status_code"] == 1000, body
    yield w
    await close_world(w)


async def authorize16(world: World, uid: str) -> str:
    answer = await world.chargers[CP16].charger.call(call16.Authorize(id_tag=uid))
    return str(answer.id_tag_info["status"])


async def test_only_reserved_tokens_are_authorized_at_the_site(world: World) -> None:
    await world.all_available()
    with capture_logs() as logs:
        assert await authorize16(world, WALK_IN) == "Invalid"
    assert any(e["event"] == "walk_in_refused" and e["charge_point_id"] == CP16
               for e in logs)
    # A 2.0.1 charger of the site too.
    answer = await world.chargers[CP201].charger.call(call201.Authorize(
        id_token={"id_token": WALK_IN, "type": "ISO14443"}))
    assert answer.id_token_info["status"] == "Invalid"

    reply = await world.command("RESERVE_NOW", world.reserve_body("r1", evse_uid="E1"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("r1"))["result"] == "ACCEPTED"
    assert await authorize16(world, "DEEMS0001") == "Accepted"
    assert await authorize16(world, WALK_IN) == "Invalid"
    [reserve] = world.received(CP16, "ReserveNow")
    started = await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=1, id_tag="DEEMS0001", meter_start=0,
        timestamp="2026-11-23T19:00:00Z", reservation_id=reserve["reservation_id"]))
    assert started.id_tag_info["status"] == "Accepted"
    # The reservation is used (no longer live); the driver's own charge is not refused when
    # the charger asks again for the same token.
    assert isinstance(world.gateway.app[TOKEN_AUTHORIZER], ReservationOnlyAuthorizer)
    assert await eventually(lambda: _no_live(world))
    stopped = await world.chargers[CP16].charger.call(call16.StopTransaction(
        transaction_id=started.transaction_id, meter_stop=1000,
        timestamp="2026-11-23T19:30:00Z", id_tag="DEEMS0001"))
    assert stopped.id_tag_info["status"] == "Accepted"


async def _no_live(world: World) -> bool:
    return not await world.gateway.app[RESERVATIONS].live_at_location(LOCATION)


async def test_a_charger_of_no_reservation_only_site_authorizes_walk_ins(
        tmp_path: Path) -> None:
    # Only LOC-2 is reservation_only: CP16 serves LOC-1 alone, CP201 serves both.
    policy = {**policy_doc(), "locations": {"LOC-2": {"reservation_only": True}}}
    w = await open_world(tmp_path, policy=policy)
    try:
        status, _, _ = await w.emsp.call(
            "PUT", f"{w.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/{WALK_IN}", json=token(WALK_IN))
        assert status == 200
        await w.all_available()
        assert await authorize16(w, WALK_IN) == "Accepted"
        answer = await w.chargers[CP201].charger.call(call201.Authorize(
            id_token={"id_token": WALK_IN, "type": "ISO14443"}))
        assert answer.id_token_info["status"] == "Invalid"
    finally:
        await close_world(w)


class _Inner:
    def __init__(self, status: AuthorizationStatus = AuthorizationStatus.ACCEPTED) -> None:
        self.status = status

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        return AuthorizationDecision(status=self.status, group_id="G1")


async def test_a_booking_token_is_authorized_in_its_use_window_only() -> None:
    clock = Clock()
    b = booking(start=600)  # start at(600), early start 5, no-show 15 min (support terms)
    states = {"state": BookingState.RESERVED}

    async def near(location_id: str, now: datetime) -> list[Booking]:
        return [replace(b, state=states["state"])] if location_id == b.location_id else []

    async def no_reservations(location_id: str) -> list[Reservation]:
        return []

    authorizer = ReservationOnlyAuthorizer(
        _Inner(), reservation_only=lambda loc: True,
        locations_of=lambda cp: [b.location_id] if cp == "CP1" else [],
        reservations=no_reservations, bookings=near, clock=clock)
    first, last = b.use_window
    token_uid = b.tokens[0].uid
    clock.now = first - timedelta(seconds=1)
    assert (await authorizer.authorize("CP1", token_uid)).status is AuthorizationStatus.INVALID
    clock.now = first
    assert (await authorizer.authorize("CP1", token_uid.lower())).accepted
    # Fulfilled by this charge, and past the window: still the same driver at this charger.
    states["state"] = BookingState.FULFILLED
    clock.now = last + timedelta(minutes=30)
    decision = await authorizer.authorize("CP1", token_uid)
    assert decision.accepted and decision.group_id == "G1"
    # At another charger of the site, after the window: refused.
    authorizer_cp2 = ReservationOnlyAuthorizer(
        _Inner(), reservation_only=lambda loc: True,
        locations_of=lambda cp: [b.location_id], reservations=no_reservations,
        bookings=near, clock=clock)
    assert not (await authorizer_cp2.authorize("CP2", token_uid)).accepted
    # A booking that ended otherwise does not admit, and the eMSP's refusal stands.
    states["state"] = BookingState.CANCELED
    clock.now = first
    assert not (await authorizer_cp2.authorize("CP2", token_uid)).accepted
    refused = ReservationOnlyAuthorizer(
        _Inner(AuthorizationStatus.BLOCKED), reservation_only=lambda loc: True,
        locations_of=lambda cp: [b.location_id], reservations=no_reservations,
        bookings=near, clock=clock)
    assert (await refused.authorize("CP1", token_uid)).status is AuthorizationStatus.BLOCKED
    assert at(600) == b.start


_RESERVATION = record("R1")


def _remembering(clock: Clock, reserved: set[str], **kw: object) -> ReservationOnlyAuthorizer:
    async def reservations(location_id: str) -> list[Reservation]:
        return [replace(_RESERVATION, token_uid=uid) for uid in sorted(reserved)]

    async def no_bookings(location_id: str, now: datetime) -> list[Booking]:
        return []

    return ReservationOnlyAuthorizer(
        _Inner(), reservation_only=lambda loc: True, locations_of=lambda cp: ["LOC1"],
        reservations=reservations, bookings=no_bookings, clock=clock,
        **kw)  # type: ignore[arg-type]


async def test_an_admitted_token_is_remembered_for_a_day_then_refused() -> None:
    clock = Clock()
    reserved = {"TOK-A"}
    authorizer = _remembering(clock, reserved)
    assert (await authorizer.authorize("CP1", "TOK-A")).accepted
    reserved.clear()  # the reservation was used: no longer live
    clock.now += timedelta(hours=24) - timedelta(seconds=1)
    assert (await authorizer.authorize("CP1", "tok-a")).accepted
    assert not (await authorizer.authorize("CP2", "TOK-A")).accepted  # at that charger only
    clock.now += timedelta(seconds=1)
    assert not (await authorizer.authorize("CP1", "TOK-A")).accepted
    # Refused once, it is forgotten: a later reservation admits it again for a new day.
    reserved.add("TOK-A")
    assert (await authorizer.authorize("CP1", "TOK-A")).accepted


async def test_the_oldest_admitted_token_is_forgotten_first() -> None:
    clock = Clock()
    reserved = {"A", "B", "C"}
    authorizer = _remembering(clock, reserved, max_remembered=2)
    for uid in ("A", "B", "A", "C"):  # A again: the most recent, B now the oldest
        assert (await authorizer.authorize("CP1", uid)).accepted
    reserved.clear()
    assert [(await authorizer.authorize("CP1", uid)).accepted for uid in ("A", "B", "C")] == [
        True, False, True]



async def test_a_remote_start_of_a_walk_in_is_refused_at_once(world: World) -> None:
    # Many chargers start a remote start without asking Authorize: the gateway refuses it.
    await world.all_available()
    refused = await world.command("START_SESSION", start_body(world, "walk", uid=WALK_IN))
    assert refused["data"]["result"] == "REJECTED"
    assert "reservation_only" in refused["data"]["message"][0]["text"]
    assert world.all_received("RequestStartTransaction") == []
    assert world.received(CP16, "RemoteStartTransaction") == []
    reply = await world.command("RESERVE_NOW", world.reserve_body("r1", evse_uid="E1"))
    assert (await world.result("r1"))["result"] == "ACCEPTED", reply
    accepted = await world.command("START_SESSION", start_body(world, "mine", evse_uid="E1"))
    assert accepted["data"]["result"] == "ACCEPTED", accepted
