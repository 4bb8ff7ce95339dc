"""Attacks on commands by a second eMSP over the real handshake, with real chargers: it cannot
take the first eMSP's role, cancel its reservation or unlock its connector; and response_urls
aimed at the gateway's own network are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.commands.response_url import response_url_refusal
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import ReservationState
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.commands.support import (
    CP16,
    CP201,
    World,
    close_world,
    eventually,
    open_world,
    start_body,
    token,
    unlock_body,
)
from tests.peers.emsp import EmspPeer

AS_VICTIM = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
             "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"}


@pytest.fixture
async def attacker(world: World) -> AsyncIterator[EmspPeer]:
    """eMSP X (DE-ATK), registered over the real handshake beside the world's eMSP (DE-EMS)."""
    peer = EmspPeer(party_id="ATK", name="Attacker")
    await peer.start()
    _, token_a = await world.gateway.partners.invite("X", peer.grants())
    _, body = await peer.register_with(world.gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


async def _command(peer: EmspPeer, world: World, name: str, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, reply, _ = await peer.call(
        "POST", f"{world.gateway.url}/ocpi/2.2.1/commands/{name}", json=body, headers=headers)
    return status, dict(reply)


async def _reserve(world: World, evse_uid: str) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body("res", evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("res"))["result"] == "ACCEPTED"


async def test_another_emsp_cannot_take_the_role_nor_cancel_the_reservation(
    world: World, attacker: EmspPeer
) -> None:
    await world.all_available()
    await _reserve(world, "E1")
    # X claims Y's role in a credentials PUT: refused, naming the role.
    attacker.valid_tokens.add("b2")
    _, body, _ = await attacker.call("PUT", attacker.credentials_url, json={
        **attacker.credentials("b2"), "roles": [
            {"role": "EMSP", "country_code": "DE", "party_id": "EMS",
             "business_details": {"name": "Y"}}]})
    assert body["status_code"] == 2001 and "EMSP:DE-EMS" in body["status_message"]
    cancel = {"response_url": attacker.response_url("cancel"), "reservation_id": "R1"}
    # Routed as Y: refused by the transport.
    status, reply = await _command(attacker, world, "CANCEL_RESERVATION", cancel, AS_VICTIM)
    assert status == 401 and reply["status_code"] == 2000
    # As itself: Y's reservation id is not one of X's.
    _, reply = await _command(attacker, world, "CANCEL_RESERVATION", cancel)
    assert reply["data"]["result"] == "ACCEPTED"
    got = await eventually(lambda: attacker.command_results.get("cancel"))
    assert got and got[0]["result"] == "UNKNOWN_RESERVATION"
    assert world.all_received("CancelReservation") == []
    reservation = await world.gateway.app[RESERVATIONS].get(Partner("DE", "EMS"), "R1")
    assert reservation is not None and reservation.state is ReservationState.ACTIVE


async def test_unlock_only_by_the_emsp_with_the_reservation_or_a_helpdesk(
    world: World, attacker: EmspPeer
) -> None:
    await world.all_available()
    await _reserve(world, "E1")
    _, reply = await _command(attacker, world, "UNLOCK_CONNECTOR",
                              {**unlock_body(world, "x", "E1"),
                               "response_url": attacker.response_url("x")})
    assert reply["data"]["result"] == "REJECTED", reply
    assert "E1" in reply["data"]["message"][0]["text"]
    # Nor on a free EVSE, where nobody's session or reservation is.
    _, reply = await _command(attacker, world, "UNLOCK_CONNECTOR",
                              {**unlock_body(world, "x2", "E2"),
                               "response_url": attacker.response_url("x2")})
    assert reply["data"]["result"] == "REJECTED", reply
    assert world.all_received("UnlockConnector") == []
    # The reservation's eMSP may.
    reply = await world.command("UNLOCK_CONNECTOR", unlock_body(world, "mine", "E1"))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("mine"))["result"] == "ACCEPTED"
    # A help desk the operator granted may unlock anywhere.
    [record] = [p for p in await world.gateway.partners.registered() if p.name == "X"]
    await world.gateway.partners.grant(record.id, Grants(helpdesk=True))
    _, reply = await _command(attacker, world, "UNLOCK_CONNECTOR",
                              {**unlock_body(world, "hd", "E2"),
                               "response_url": attacker.response_url("hd")})
    assert reply["data"]["result"] == "ACCEPTED", reply
    done = await eventually(lambda: attacker.command_results.get("hd"))
    assert done and done[0]["result"] == "ACCEPTED"
    assert len(world.all_received("UnlockConnector")) == 2


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_unlock_only_by_the_emsp_whose_session_is_on_the_evse(
    world: World, attacker: EmspPeer
) -> None:
    await world.all_available()
    # A remotely started 2.0.1 session on E3, and a 1.6 session on E2 started by a tap of a
    # token Y pushed: both are Y's.
    reply = await world.command("START_SESSION", start_body(world, "s", evse_uid="E3",
                                                            connector_id="1"))
    assert reply["data"]["result"] == "ACCEPTED", reply
    await world.chargers[CP201].charger.call(call201.TransactionEvent(
        event_type="Started", timestamp=_now(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "TX-1"}, evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "DEEMS0001", "type": "ISO14443"}))
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0002",
        json=token("DEEMS0002"))
    assert body["status_code"] == 1000, body
    await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=2, id_tag="DEEMS0002", meter_start=0, timestamp=_now()))
    for evse in ("E3", "E2"):
        # Y may, once the charger's transaction is recorded...
        async def accepted(evse: str = evse) -> bool:
            reply = await world.command("UNLOCK_CONNECTOR", unlock_body(world, evse, evse))
            return bool(reply["data"]["result"] == "ACCEPTED")
        assert await eventually(accepted), evse
        # ...X may not.
        _, reply = await _command(attacker, world, "UNLOCK_CONNECTOR",
                                  {**unlock_body(world, f"x{evse}", evse),
                                   "response_url": attacker.response_url(f"x{evse}")})
        assert reply["data"]["result"] == "REJECTED", (evse, reply)
    assert await eventually(lambda: world.emsp.command_results.get("E2"))
    assert len(world.all_received("UnlockConnector")) == 2


@pytest.fixture
async def strict_world(tmp_path: Path) -> AsyncIterator[World]:
    """A gateway with the default: response_urls must be public."""
    opened = await open_world(tmp_path, allow_private_response_urls=False)
    yield opened
    await close_world(opened)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/results", "http://localhost/results", "http://[::1]/results",
    "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/r", "https://192.168.0.1/r",
    "http://[::ffff:10.0.0.1]/r", "http://0.0.0.0/r", "http://100.64.0.1/r",
])
async def test_response_urls_into_the_gateways_network_are_refused(
    strict_world: World, url: str
) -> None:
    world = strict_world
    await world.all_available()
    reply = await world.command("RESERVE_NOW", {**world.reserve_body("r", evse_uid="E1"),
                                                "response_url": url})
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "REJECTED", reply
    assert "response_url" in reply["data"]["message"][0]["text"]
    assert world.all_received("ReserveNow") == []
    assert await world.gateway.app[RESERVATIONS].get(Partner("DE", "EMS"), "R1") is None
    queued = await world.gateway.partners.store.find(COLLECTION)
    assert all("/locations/" in d["url"] for d in queued)  # Locations pushes only


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://10.0.0.1/r", "gopher://x/y"])
async def test_response_urls_that_are_not_http_are_invalid(strict_world: World,
                                                           url: str) -> None:
    # OCPI's URL type: the body itself is invalid (2001 naming the field), nothing runs.
    world = strict_world
    reply = await world.command("UNLOCK_CONNECTOR", {**unlock_body(world, "u", "E1"),
                                                     "response_url": url})
    assert reply["status_code"] == 2001 and "response_url" in reply["status_message"]


async def test_response_url_checks() -> None:
    assert await response_url_refusal("http://127.0.0.1/r", allow_private=True) is None
    assert await response_url_refusal("file:///etc/passwd", allow_private=True) is not None
    # Literal addresses resolve without the network.
    assert await response_url_refusal("https://93.184.216.34/r", allow_private=False) is None
    refusal = await response_url_refusal("http://100.64.0.1/r", allow_private=False)
    assert refusal is not None and "100.64.0.1" in refusal
