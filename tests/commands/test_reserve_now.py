"""RESERVE_NOW end to end: eMSP POST → policy → OCPP ReserveNow → CommandResult at response_url."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from ocpi_gateway.locations.extension import AVAILABILITY
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import Reservation
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.commands.support import CP16, CP201, LOCATION, World, eventually, token
from tests.ocpp.ocpp_test_support import Behaviour
from tests.peers.emsp import EmspPeer


async def reservation_of(world: World, reservation_id: str) -> Reservation | None:
    return await world.gateway.app[RESERVATIONS].get(Partner("DE", "EMS"), reservation_id)


async def test_location_level_reservation_is_accepted(world: World) -> None:
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r1"))
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "ACCEPTED"
    assert reply["data"]["timeout"] == 4
    result = await world.result("r1")
    assert result["result"] == "ACCEPTED"
    sent = world.all_received("ReserveNow")
    assert len(sent) == 1
    cp_id, payload = sent[0]
    # The eMSP's reservation_id never reaches the charger: an integer the gateway generated.
    assert isinstance(payload["reservation_id"], int)
    if cp_id == CP16:
        assert payload["id_tag"] == "DEEMS0001"
    else:
        assert payload["id_token"]["id_token"] == "DEEMS0001"



async def test_occupied_charger_then_next_candidate(world: World) -> None:
    await world.connect(CP16, Behaviour(reserve="Occupied"))
    await world.connect(CP201)
    for connector in (1, 2):
        await world.status(CP16, connector, "Available")
    await world.status(CP201, 1, "Available", evse=1)
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE, "E3": EvseStatus.AVAILABLE}))
    reply = await world.command("RESERVE_NOW", world.reserve_body("occ"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("occ"))["result"] == "ACCEPTED"
    # Whatever the 1.6 charger was asked, it said Occupied; the 2.0.1 one took it.
    assert len(world.received(CP201, "ReserveNow")) == 1
    reservation = await reservation_of(world, "R1")
    assert reservation is not None and reservation.evse_uid == "E3"


async def test_all_candidates_occupied(world: World) -> None:
    await world.connect(CP16, Behaviour(reserve="Occupied"))
    await world.connect(CP201, Behaviour(reserve="Occupied"))
    for connector in (1, 2):
        await world.status(CP16, connector, "Available")
    await world.status(CP201, 1, "Available", evse=1)
    assert await eventually(lambda: world.evse_statuses(LOCATION, {
        "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE, "E3": EvseStatus.AVAILABLE}))
    await world.command("RESERVE_NOW", world.reserve_body("all-occ"))
    assert (await world.result("all-occ"))["result"] == "EVSE_OCCUPIED"
    asked = {(cp, p.get("connector_id") or p.get("evse_id"))
             for cp, p in world.all_received("ReserveNow")}
    assert asked == {(CP16, 1), (CP16, 2), (CP201, 1)}
    # Every hold was released: nothing stays RESERVED for a refused request.
    holds = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert all(entry.holder is None for entry in holds.values())


async def test_faulted_answer_is_evse_inoperative(world: World) -> None:
    await world.all_available()
    world.chargers[CP16].behaviour.reserve = "Faulted"
    await world.command("RESERVE_NOW", world.reserve_body("flt", evse_uid="E1"))
    assert (await world.result("flt"))["result"] == "EVSE_INOPERATIVE"


async def test_charger_rejects_specific_evse(world: World) -> None:
    await world.all_available()
    world.chargers[CP201].behaviour.reserve = "Rejected"
    await world.command("RESERVE_NOW", world.reserve_body("rej", evse_uid="E3"))
    assert (await world.result("rej"))["result"] == "REJECTED"
    assert world.received(CP16, "ReserveNow") == []  # a named EVSE is never swapped


async def test_silent_charger_gives_timeout(world: World) -> None:
    hang = asyncio.Event()
    await world.connect(CP16, Behaviour(hang=hang))
    await world.status(CP16, 1, "Available")
    assert await eventually(lambda: world.evse_statuses(LOCATION, {"E1": EvseStatus.AVAILABLE}))
    reply = await world.command("RESERVE_NOW", world.reserve_body("silent", evse_uid="E1"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("silent"))["result"] == "TIMEOUT"
    hang.set()


async def test_offline_charger_is_refused_at_once(world: World) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body("off", evse_uid="E1"))
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "REJECTED"
    assert "offline" in reply["data"]["message"][0]["text"]


async def test_location_with_no_charger_online_is_inoperative(world: World) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body("none"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("none"))["result"] == "EVSE_INOPERATIVE"


async def test_checks_answered_at_once(world: World) -> None:
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("x", location_id="NOPE"))
    assert (reply["status_code"], reply["data"]["result"]) == (2003, "REJECTED")
    reply = await world.command("RESERVE_NOW", world.reserve_body(
        "x", location_id="LOC-2", evse_uid="E4"))
    assert reply["data"]["result"] == "NOT_SUPPORTED"  # E4 is not RESERVABLE
    reply = await world.command("RESERVE_NOW", world.reserve_body(
        "x", country_code="NL", party_id="OTH"))
    assert reply["data"]["result"] == "REJECTED"  # a token of another eMSP
    assert world.all_received("ReserveNow") == []


async def test_invalid_body_names_the_field(world: World) -> None:
    body = world.reserve_body("bad")
    del body["expiry_date"]
    reply = await world.command("RESERVE_NOW", body)
    assert reply["status_code"] == 2001
    assert "expiry_date" in reply["status_message"]
    reply = await world.command("RESERVE_NOW", {**world.reserve_body("bad"),
                                                "reservation_id": "x" * 37})
    assert reply["status_code"] == 2001
    assert "reservation_id" in reply["status_message"]


async def test_same_reservation_id_replaces_and_cancels_old_evse(world: World) -> None:
    await world.all_available()
    await world.command("RESERVE_NOW", world.reserve_body("first", evse_uid="E1"))
    assert (await world.result("first"))["result"] == "ACCEPTED"
    old_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    await world.command("RESERVE_NOW", world.reserve_body("second", evse_uid="E3"))
    assert (await world.result("second"))["result"] == "ACCEPTED"
    assert await eventually(lambda: world.received(CP16, "CancelReservation"))
    assert world.received(CP16, "CancelReservation")[0]["reservation_id"] == old_id
    reservation = await reservation_of(world, "R1")
    assert reservation is not None and reservation.evse_uid == "E3"
    holds = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert holds["E1"].holder is None


async def test_reservation_ids_are_scoped_per_emsp_and_unique_per_charger(world: World) -> None:
    await world.all_available()
    await world.command("RESERVE_NOW", world.reserve_body("a", "R1", evse_uid="E1"))
    await world.command("RESERVE_NOW", world.reserve_body("b", "R2", evse_uid="E2"))
    assert (await world.result("a"))["result"] == "ACCEPTED"
    assert (await world.result("b"))["result"] == "ACCEPTED"
    ids = [p["reservation_id"] for p in world.received(CP16, "ReserveNow")]
    assert len(set(ids)) == 2


async def test_reserved_evse_is_pushed_as_reserved_to_partners(world: World) -> None:
    # The test chargers never report Reserved themselves: the gateway's hold alone must show.
    await world.all_available()
    await world.command("RESERVE_NOW", world.reserve_body("push", evse_uid="E2"))
    assert (await world.result("push"))["result"] == "ACCEPTED"

    def pushed_status() -> str | None:
        patches = [r.body for r in world.emsp.received
                   if r.method == "PATCH" and r.path.endswith(f"/{LOCATION}/E2")]
        return patches[-1].get("status") if patches else None

    assert await eventually(lambda: pushed_status() == "RESERVED")
    reply = await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("cancel"), "reservation_id": "R1"})
    assert reply["data"]["result"] == "ACCEPTED"
    assert await eventually(lambda: pushed_status() == "AVAILABLE")


async def test_reserve_now_forwarded_by_a_hub(world: World) -> None:
    # transport_and_format, Party to Party via Hub: the hub (credentials role HUB only) sends
    # the eMSP's command with OCPI-from-* naming the eMSP; the token is the eMSP's.
    await world.all_available()
    hub = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    await hub.start()
    try:
        grants = hub.grants(forwards_for=("DE-EMS",))
        _, token_a = await world.gateway.partners.invite("hub", grants)
        status, body = await hub.register_with(world.gateway.versions_url, token_a)
        assert body["status_code"] == 1000, body
        routed = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
                  "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"}
        request = {**world.reserve_body("hub"), "response_url": hub.response_url("hub")}
        status, reply, _ = await hub.call(
            "POST", f"{world.gateway.url}/ocpi/2.2.1/commands/RESERVE_NOW", json=request,
            headers=routed)
        assert (status, reply["data"]["result"]) == (200, "ACCEPTED"), reply
        got = await eventually(lambda: hub.command_results.get("hub"))
        assert got and got[0]["result"] == "ACCEPTED"
        # The result goes back through the hub to the eMSP: routing headers say so.
        [posted] = [r for r in hub.received if r.path.endswith("/results/hub")]
        headers = {k.lower(): v for k, v in posted.headers.items()}
        assert (headers.get("ocpi-from-country-code"), headers.get("ocpi-from-party-id"),
                headers.get("ocpi-to-country-code"), headers.get("ocpi-to-party-id")) == (
            "NL", "EXA", "DE", "EMS"), headers
        # The token still has to be the routed eMSP's.
        status, reply, _ = await hub.call(
            "POST", f"{world.gateway.url}/ocpi/2.2.1/commands/RESERVE_NOW",
            json={**request, "token": token(country_code="FR", party_id="OTH")},
            headers=routed)
        assert reply["data"]["result"] == "REJECTED"
    finally:
        await hub.close()


async def test_command_result_carries_request_and_correlation_ids(world: World) -> None:
    # transport_and_format: "Every request SHALL contain a unique request ID" and a
    # correlation ID; the CommandResult POST is a request of ours like any other.
    await world.all_available()
    await world.command("RESERVE_NOW", world.reserve_body("ids"))
    await world.result("ids")
    [posted] = [r for r in world.emsp.received if r.path.endswith("/results/ids")]
    headers = {k.lower(): v for k, v in posted.headers.items()}
    assert headers.get("x-request-id") and headers.get("x-correlation-id"), headers


async def test_expiry_date_without_designator_is_utc(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # types DateTime: "The absence of the timezone designator implies a UTC timestamp." - not
    # the host's local time, and the command token it bounds must still be comparable.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        await world.all_available()
        body = world.reserve_body("naive")
        body["expiry_date"] = body["expiry_date"].rstrip("Z")
        reply = await world.command("RESERVE_NOW", body)
        assert (reply["status_code"], reply["data"]["result"]) == (1000, "ACCEPTED"), reply
        assert (await world.result("naive"))["result"] == "ACCEPTED"
        reservation = await reservation_of(world, "R1")
        assert reservation is not None
        assert reservation.expiry == datetime.fromisoformat(body["expiry_date"]).replace(
            tzinfo=UTC)
        decision = await world.gateway.app[TOKEN_AUTHORIZER].authorize(CP16, "DEEMS0001")
        assert decision.accepted
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


async def test_ids_are_case_insensitive(world: World) -> None:
    # OCPI location_id and evse_uid are CiStrings: the operator's spelling is what the charger
    # mapping, the availability store and the reservation records know.
    await world.all_available()
    body = world.reserve_body("ci", evse_uid="e1", location_id=LOCATION.lower())
    reply = await world.command("RESERVE_NOW", body)
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("ci"))["result"] == "ACCEPTED"
    reservation = await reservation_of(world, "R1")
    assert reservation is not None
    assert (reservation.location_id, reservation.evse_uid) == (LOCATION, "E1")
    # On the EVSE it reserved (an eMSP may unlock only there), spelt otherwise.
    reply = await world.command("UNLOCK_CONNECTOR", {
        "response_url": world.emsp.response_url("unlock"), "location_id": "Loc-1",
        "evse_uid": "e1", "connector_id": "1"})
    assert reply["data"]["result"] == "ACCEPTED", reply


async def test_a_newly_registered_partner_receives_every_location(world: World) -> None:
    # The eMSP registered after the gateway started: every Location is PUT to it once, so
    # that later status PATCHes find the object there.
    assert await eventually(
        lambda: {"NL/EXA/LOC-1", "NL/EXA/LOC-2"} <= set(world.emsp.locations))
    put = world.emsp.locations["NL/EXA/LOC-1"]
    assert {e["uid"] for e in put["evses"]} == {"E1", "E2", "E3"}
