"""An operator moves a reservation to another EVSE and gives it a new expiry from the admin
API, end to end: real OCPP 1.6 and 2.0.1 chargers get ReserveNow / CancelReservation, the
eMSP peer's session (validated against the OCPI OpenAPI files) shows the new EVSE; refusals
leave the reservation alone; each act is audited with who did it, strangers and viewers are
refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.admin.support import AdminClient, write_operators
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
)
from tests.sessions.support import EMSP_MODULES, priced_locations, tariffs_doc

ONE = "/admin/api/reservations/DE-EMS/R1"


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


def _session_evse(world: World) -> str | None:
    [session] = world.emsp.sessions.values()
    return session.get("evse_uid")  # type: ignore[no-any-return]


async def _audit(world: World) -> list[tuple[str, str, str]]:
    entries = await world.gateway.app[keys.STORE].find(AUDIT, order_by="at")
    return [(e["operator"], e["action"], e["outcome"]) for e in entries
            if e["action"] in ("move_reservation", "extend_reservation")]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def test_an_operator_moves_a_reservation_across_chargers(world: World,
                                                               alice: AdminClient) -> None:
    await world.all_available()
    await _reserve(world, "R1", "E1")
    assert await eventually(lambda: len(world.emsp.sessions) == 1)
    assert _session_evse(world) == "E1"
    booked = (await alice.call("GET", ONE)).body

    # Same charger, another connector.
    moved = await alice.call("POST", f"{ONE}/move",
                             json={"evse_uid": "E2", "note": "connector 1 is sticky"})
    assert moved.status == 200, moved.body
    r = moved.body["reservation"]
    assert (r["evse_uid"], r["state"], r["live"]) == ("E2", "REROUTED", True)
    assert r["history"][-1]["reason"] == "moved by the operator alice: connector 1 is sticky"
    assert moved.body["charger_answers"] == [{"evse_uid": "E2", "outcome": "accepted"}]
    reserve_nows = world.received(CP16, "ReserveNow")
    assert reserve_nows[-1]["connector_id"] == 2
    assert reserve_nows[-1]["reservation_id"] == r["ocpp_reservation_id"]
    assert await eventually(lambda: [c["reservation_id"] for c in world.received(
        CP16, "CancelReservation")] == [booked["ocpp_reservation_id"]])
    assert await eventually(lambda: _session_evse(world) == "E2")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE}))

    # To the 2.0.1 charger.
    moved = await alice.call("POST", f"{ONE}/move", json={"evse_uid": "E3"})
    assert moved.status == 200 and moved.body["reservation"]["evse_uid"] == "E3"
    assert world.received(CP201, "ReserveNow")[-1]["evse_id"] == 1
    assert await eventually(lambda: len(world.received(CP16, "CancelReservation")) == 2)
    assert await eventually(lambda: _session_evse(world) == "E3")

    # Refused, with the reason; the reservation stays on E3.
    await world.status(CP16, 1, "Charging")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.CHARGING}))
    sent = len(world.received(CP16, "ReserveNow"))
    for body, words in (({"evse_uid": "E1"}, "EVSE E1 cannot take it"),
                        ({"evse_uid": "E4"}, "not at location"),
                        ({"evse_uid": "E3"}, "already")):
        refused = await alice.call("POST", f"{ONE}/move", json=body)
        assert refused.status == 409 and refused.body["error"] == "conflict", refused.body
        assert words in refused.body["message"], refused.body
    assert len(world.received(CP16, "ReserveNow")) == sent
    assert (await alice.call("GET", ONE)).body["evse_uid"] == "E3"
    for bad in ({}, {"evse_uid": ""}, {"evse_uid": "E2", "extra": 1}):
        assert (await alice.call("POST", f"{ONE}/move", json=bad)).status == 400, bad
    assert (await alice.call("POST", "/admin/api/reservations/DE-EMS/NOPE/move",
                             json={"evse_uid": "E2"})).status == 404
    audit = await _audit(world)
    assert [a[2] for a in audit][:2] == ["ok", "ok"]
    assert audit[2][:2] == ("alice", "move_reservation")
    assert audit[2][2].startswith("refused: conflict: EVSE E1 cannot take it: ")


async def test_an_operator_extends_a_reservation(world: World, alice: AdminClient) -> None:
    await world.all_available()
    await _reserve(world, "R1", "E3")
    booked = (await alice.call("GET", ONE)).body
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=90)
    extended = await alice.call("POST", f"{ONE}/extend",
                                json={"expiry_date": _iso(later), "note": "driver late"})
    assert extended.status == 200, extended.body
    r = extended.body["reservation"]
    assert datetime.fromisoformat(r["expiry"]) == later
    assert (r["evse_uid"], r["ocpp_reservation_id"], r["state"]) == (
        "E3", booked["ocpp_reservation_id"], "ACTIVE")
    assert r["history"][-1]["reason"] == "expiry changed by the operator alice: driver late"
    again = world.received(CP201, "ReserveNow")[-1]
    assert again["id"] == booked["ocpp_reservation_id"]
    assert datetime.fromisoformat(again["expiry_date_time"].replace("Z", "+00:00")) == later
    # The charger refusing: unchanged.
    world.chargers[CP201].behaviour.reserve = "Rejected"
    refused = await alice.call("POST", f"{ONE}/extend",
                               json={"expiry_date": _iso(later + timedelta(minutes=10))})
    assert refused.status == 409 and "rejected" in refused.body["message"]
    assert datetime.fromisoformat((await alice.call("GET", ONE)).body["expiry"]) == later
    for bad in ({}, {"expiry_date": "tomorrow"}, {"expiry_date": "2026-12-02T10:00:00"}):
        assert (await alice.call("POST", f"{ONE}/extend", json=bad)).status == 400, bad
    past = await alice.call("POST", f"{ONE}/extend",
                            json={"expiry_date": _iso(datetime.now(UTC) - timedelta(1))})
    assert past.status == 409 and "past" in past.body["message"]
    assert [a[2] for a in await _audit(world)][:2] == ["ok", "refused: conflict: the charger "
                                                       "answered rejected; the reservation "
                                                       "is unchanged"]


async def test_strangers_and_viewers_cannot_move_or_extend(world: World) -> None:
    await world.all_available()
    await _reserve(world, "R1", "E1")
    stranger, viewer, browser = (AdminClient(world.gateway.url) for _ in range(3))
    bodies: dict[str, Any] = {"move": {"evse_uid": "E2"},
                              "extend": {"expiry_date": _iso(datetime.now(UTC)
                                                             + timedelta(minutes=50))}}
    try:
        await viewer.login("victor")
        await browser.login("alice")
        for act, body in bodies.items():
            assert (await stranger.raw("POST", f"{ONE}/{act}", json=body)).status == 401
            refused = await viewer.call("POST", f"{ONE}/{act}", json=body)
            assert refused.status == 403 and refused.body["error"] == "forbidden"
            forged = await browser.raw("POST", f"{ONE}/{act}", json=body, send_csrf=False)
            assert forged.status == 403 and forged.body["error"] == "csrf"
        listed = await viewer.call("GET", ONE)
        assert (listed.body["evse_uid"], listed.body["state"]) == ("E1", "ACTIVE")
    finally:
        for client in (stranger, viewer, browser):
            await client.close()
    assert len(world.received(CP16, "ReserveNow")) == 1
    assert await _audit(world) == [("victor", "move_reservation", "refused: forbidden"),
                                   ("victor", "extend_reservation", "refused: forbidden")]
