"""An operator cancels from the admin API, end to end: real OCPP 1.6 and 2.0.1 chargers get
CancelReservation, the eMSP peer gets CANCELED_RESERVATION and its session completed
(nothing billed) for a reservation, the Booking pushed CANCELED by the CPO for a booking;
each act is in the audit log with who did it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.admin.support import AdminClient, write_operators
from tests.bookings.support import Clock as BookingClock
from tests.bookings.test_bookings_module import MODULES_230, POLICY, SITE, Site, register
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
)
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import gateway_settings, start_gateway
from tests.sessions.support import EMSP_MODULES, priced_locations, tariffs_doc


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    opened = await open_world(tmp_path, operators_file=operators, emsp_modules=EMSP_MODULES,
                              locations=priced_locations(), tariffs=tariffs_doc())
    yield opened
    await close_world(opened)


@pytest.fixture
async def alice(world: World) -> AsyncIterator[AdminClient]:
    client = AdminClient(world.gateway.url)
    assert (await client.login("alice")).status == 200
    yield client
    await client.close()


async def _reserve(world: World, name: str, evse_uid: str) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body(name, name,
                                                                  evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result(name))["result"] == "ACCEPTED"


async def _audit(world: World, action: str) -> list[tuple[str, str, str]]:
    entries = await world.gateway.app[keys.STORE].find(AUDIT, {"action": action},
                                                       order_by="at")
    return [(e["operator"], e["target"].get("reservation_id", e["target"].get("request_id")),
             e["outcome"]) for e in entries]


async def test_an_operator_cancels_reservations_on_both_chargers(world: World,
                                                                 alice: AdminClient) -> None:
    await world.all_available()
    await _reserve(world, "R16", "E1")
    await _reserve(world, "R201", "E3")
    assert await eventually(lambda: len(world.emsp.sessions) == 2)

    answer = await alice.call("POST", "/admin/api/reservations/DE-EMS/R16/cancel",
                              json={"note": "charger to be repaired"})
    assert answer.status == 200, answer
    cancelled = answer.body["reservation"]
    assert cancelled["state"] == "REMOVED" and cancelled["live"] is False
    assert cancelled["history"][-1]["reason"] == (
        "cancelled by the operator alice: charger to be repaired")
    assert answer.body["charger_answer"] == "accepted"
    [sent] = world.received(CP16, "CancelReservation")
    assert sent["reservation_id"] == cancelled["ocpp_reservation_id"]
    # A body is optional; a bearer token needs no CSRF token.
    script = AdminClient(world.gateway.url)
    try:
        assert (await script.use_token("alice")).status == 201
        answer = await script.call("POST", "/admin/api/reservations/de-ems/r201/cancel")
        assert answer.status == 200 and answer.body["reservation"]["state"] == "REMOVED"
    finally:
        await script.close()
    [sent] = world.received(CP201, "CancelReservation")
    assert sent["reservation_id"] == answer.body["reservation"]["ocpp_reservation_id"]

    # The eMSP: CANCELED_RESERVATION after the ACCEPTED, naming no operator.
    for name in ("R16", "R201"):
        results = await eventually(lambda n=name: world.emsp.command_results[n][1:])
        assert [r["result"] for r in results] == ["CANCELED_RESERVATION"]
        assert "operator" in results[0]["message"][0]["text"]
        assert "alice" not in results[0]["message"][0]["text"]
    # ... its sessions completed, and nothing billed.
    assert await eventually(lambda: all(s["status"] == "COMPLETED"
                                        for s in world.emsp.sessions.values()))
    assert world.emsp.cdrs == {}
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE, "E3": EvseStatus.AVAILABLE}))
    assert await _audit(world, "cancel_reservation") == [
        ("alice", "R16", "ok"), ("alice", "r201", "ok")]

    # Ended is ended: 409, and an unknown one 404 (both audit-logged as refused).
    again = await alice.call("POST", "/admin/api/reservations/DE-EMS/R16/cancel")
    assert again.status == 409 and again.body["error"] == "conflict"
    assert "REMOVED" in again.body["message"]
    unknown = await alice.call("POST", "/admin/api/reservations/DE-EMS/NOPE/cancel")
    assert unknown.status == 404
    outcomes = [o for _, _, o in await _audit(world, "cancel_reservation")]
    assert outcomes[2:] == [f"refused: conflict: {again.body['message']}",
                            f"refused: not_found: {unknown.body['message']}"]
    assert len(world.received(CP16, "CancelReservation")) == 1


async def test_who_may_not_cancel_leaves_the_reservation_alone(world: World) -> None:
    await world.all_available()
    await _reserve(world, "R1", "E1")
    path = "/admin/api/reservations/DE-EMS/R1/cancel"
    stranger, viewer, browser = (AdminClient(world.gateway.url) for _ in range(3))
    try:
        assert (await stranger.raw("POST", path)).status == 401
        assert (await stranger.login("alice", "a-guessed-password")).status == 401
        assert (await stranger.raw("POST", path)).status == 401
        await viewer.login("victor")
        refused = await viewer.call("POST", path)
        assert refused.status == 403 and refused.body["error"] == "forbidden"
        await browser.login("alice")
        forged = await browser.raw("POST", path, send_csrf=False)
        assert forged.status == 403 and forged.body["error"] == "csrf"
        listed = await viewer.call("GET", "/admin/api/reservations/DE-EMS/R1")
        assert listed.body["state"] == "ACTIVE"
    finally:
        for client in (stranger, viewer, browser):
            await client.close()
    assert world.received(CP16, "CancelReservation") == []
    assert await _audit(world, "cancel_reservation") == [("victor", "R1", "refused: forbidden")]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    clock = BookingClock(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    gateway = await start_gateway(gateway_settings(
        tmp_path, locations_file=EXAMPLE, policy_file=policy, operators_file=operators),
        clock=clock)
    emsp = await register(gateway, EmspPeer(party_id="NEW", modules=MODULES_230,
                                            versions=("2.3.0",), ocpi_version="2.3.0"))
    other = await register(gateway, EmspPeer(party_id="OTH", modules=MODULES_230,
                                             versions=("2.3.0",), ocpi_version="2.3.0"))
    yield Site(gateway, clock, emsp, other, other)
    for peer in (emsp, other):
        await peer.close()
    await gateway.stop()


async def test_an_operator_cancels_a_booking_and_the_emsp_is_pushed_it(site: Site) -> None:
    _, body = await site.post(site.request("B1"))
    booking = body["data"]
    assert booking["reservation_status"] == "RESERVED"
    tail = f"NL/EXA/{booking['id']}"
    assert await eventually(lambda: site.emsp.bookings.get(tail, {}).get(
        "reservation_status") == "RESERVED")
    alice, victor = AdminClient(site.gateway.url), AdminClient(site.gateway.url)
    try:
        await alice.login("alice")
        await victor.login("victor")
        path = "/admin/api/bookings/DE-NEW/B1/cancel"
        assert (await victor.call("POST", path)).status == 403
        answer = await alice.call("POST", path, json={"reason": "BROKEN_CHARGER",
                                                      "note": "site closed"})
        assert answer.status == 200, answer
        assert answer.body["state"] == "CANCELED" and answer.body["id"] == booking["id"]
        assert answer.body["canceled"] == {"reason": "BROKEN_CHARGER", "by": "CPO"}
        assert answer.body["history"][-1]["reason"] == (
            "cancelled by the operator alice: site closed")
        # The eMSP's receiver (validating against the official 2.3.0 OpenAPI) holds it.
        assert await eventually(lambda: site.emsp.bookings[tail].get(
            "reservation_status") == "CANCELED")
        assert site.emsp.bookings[tail]["canceled"] == {
            "cancellation_reason": "BROKEN_CHARGER", "who_canceled": "CPO"}
        again = await alice.call("POST", path)
        assert again.status == 409
        listed = await victor.call("GET", f"/admin/api/bookings?site={SITE}&state=CANCELED")
        assert [b["request_id"] for b in listed.body["items"]] == ["B1"]
        # One booking: its full history, to the operator's cancel.
        shown = await victor.call("GET", "/admin/api/bookings/de-new/B1")
        assert shown.status == 200 and shown.body["id"] == booking["id"]
        assert shown.body["history"][0]["from_state"] is None
        assert shown.body["history"][-1] == answer.body["history"][-1]
        assert len(shown.body["history"]) >= 2
        assert (await victor.call("GET", "/admin/api/bookings/DE-NEW/NOPE")).status == 404
    finally:
        await alice.close()
        await victor.close()
    entries = await site.gateway.app[keys.STORE].find(AUDIT, {"action": "cancel_booking"},
                                                      order_by="at")
    assert [(e["operator"], e["outcome"], e["details"].get("reason")) for e in entries] == [
        ("victor", "refused: forbidden", None), ("alice", "ok", "BROKEN_CHARGER"),
        ("alice", "refused: conflict: booking DE-NEW/B1 is CANCELED, not live", "UNKNOWN")]
