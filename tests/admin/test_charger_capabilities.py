"""Reservation capabilities read from the chargers when they connect, end to end: real OCPP
1.6 and 2.0.1 chargers answer GetConfiguration / GetVariables, the gateway stops advertising
RESERVABLE for the EVSEs of a charger that cannot reserve (pushed to the eMSP peer and served
to it, both validated against the OCPI OpenAPI files), sends that charger no ReserveNow, keeps
to what the charger said of connector 0 over chargers.yaml, and knows it all after a restart
and on another instance."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ocpi_gateway import keys
from ocpi_gateway.config import ListenSettings
from ocpi_gateway.locations.charger_capabilities import COLLECTION
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.admin.support import AdminClient, write_operators
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    chargers_doc,
    close_world,
    eventually,
    open_world,
)
from tests.conftest import free_port
from tests.ocpp.operator_chargers import Ops, OpsCharger16, OpsCharger201
from tests.peers.gateway import RunningGateway, start_gateway

CTRL = "ReservationCtrlr"


def _chargers() -> dict[str, Any]:
    doc = copy.deepcopy(chargers_doc())
    for charger in doc["chargers"]:
        charger["capabilities"] = {"reserve_whole_charger": True}
    return doc


def _ops16(profiles: str) -> Ops:
    return Ops(configuration={"SupportedFeatureProfiles": (profiles, True),
                              "ReserveConnectorZeroSupported": ("true", True)})


def _ops201() -> Ops:
    return Ops(variables={(CTRL, "Available"): "true", (CTRL, "Enabled"): "true",
                          (CTRL, "NonEvseSpecific"): "false"})


def _advertised(world: World) -> dict[str, bool]:
    """Whether the eMSP's Locations receiver holds each EVSE of LOC-1 as RESERVABLE."""
    location = world.emsp.locations.get(f"NL/EXA/{LOCATION}") or {}
    return {e["uid"]: "RESERVABLE" in e.get("capabilities", [])
            for e in location.get("evses", [])}


async def _candidates(gateway: RunningGateway) -> dict[str, tuple[bool, bool]]:
    found = await gateway.app[RESERVATIONS].candidates.candidates(LOCATION)
    return {c.evse_uid: (c.reservable, c.charger_can_reserve_whole) for c in found}


async def _served(world: World) -> dict[str, bool]:
    """What the gateway serves the eMSP (GET, validated by the peer)."""
    status, body, _ = await world.emsp.call(
        "GET", f"{world.gateway.url}/ocpi/2.2.1/locations/{LOCATION}")
    assert status == 200, body
    return {e["uid"]: "RESERVABLE" in e.get("capabilities", []) for e in body["data"]["evses"]}


async def _connect(world: World, ops16: Ops, ops201: Ops | None = None) -> None:
    await world.connect(CP16, charger_class=OpsCharger16, ops=ops16)
    await world.status(CP16, 1, "Available")
    await world.status(CP16, 2, "Available")
    if ops201 is not None:
        await world.connect(CP201, charger_class=OpsCharger201, ops=ops201)
        await world.status(CP201, 1, "Available", evse=1)
        await world.status(CP201, 2, "Available", evse=2)


async def test_what_the_chargers_say_is_advertised_used_and_kept(tmp_path: Path) -> None:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    world = await open_world(tmp_path, operators_file=operators, chargers=_chargers())
    alice = AdminClient(world.gateway.url)
    try:
        ops16 = _ops16("Core,RemoteTrigger")
        await _connect(world, ops16, _ops201())
        assert ("GetConfiguration", {"key": ["SupportedFeatureProfiles",
                                             "ReserveConnectorZeroSupported"]}) \
            in ops16.received
        # The 1.6 charger cannot reserve: its EVSEs lose RESERVABLE at the eMSP's.
        assert await eventually(lambda: _advertised(world) == {
            "E1": False, "E2": False, "E3": True})
        assert await _served(world) == {"E1": False, "E2": False, "E3": True}
        # The policy: no candidate there; the 2.0.1 station said no to non-EVSE-specific
        # reservations, over chargers.yaml's yes.
        assert await _candidates(world.gateway) == {
            "E1": (False, False), "E2": (False, False), "E3": (True, False)}
        named = await world.command("RESERVE_NOW", world.reserve_body("R1", "R1",
                                                                      evse_uid="E1"))
        assert named["data"]["result"] == "ACCEPTED"
        assert (await world.result("R1"))["result"] == "REJECTED"
        anywhere = await world.command("RESERVE_NOW", world.reserve_body("R2", "R2"))
        assert anywhere["data"]["result"] == "ACCEPTED"
        assert (await world.result("R2"))["result"] == "ACCEPTED"
        assert world.received(CP201, "ReserveNow")[-1]["evse_id"] == 1
        assert not [a for a, _ in ops16.received if a == "ReserveNow"]
        assert (await alice.use_token("alice")).status == 201
        seen = await alice.call("GET", f"/admin/api/chargers/{CP16}")
        assert seen.body["reservation_capabilities"] == {
            "reservations": False, "reserve_whole_charger": False}
        assert seen.body["reserve_whole_charger"] is True  # chargers.yaml's, shown beside

        # Stored: a restarted gateway knows before the charger is back.
        stored = await world.gateway.app[keys.STORE].find(COLLECTION)
        assert {d["charge_point_id"]: d["can_reserve"] for d in stored} == {
            CP16: False, CP201: True}
        settings = world.gateway.settings
        await world.factory.close()
        await world.gateway.stop()
        world.gateway = await start_gateway(settings)
        assert (await _candidates(world.gateway))["E1"] == (False, False)
        assert await _served(world) == {"E1": False, "E2": False, "E3": True}
        # The charger, updated, now says it reserves (on connector 0 too): advertised and
        # used again.
        ops16 = _ops16("Core,Reservation")
        await _connect(world, ops16)
        assert await eventually(lambda: _advertised(world)["E1"] is True)
        assert await _served(world) == {"E1": True, "E2": True, "E3": True}
        assert (await _candidates(world.gateway))["E1"] == (True, True)
    finally:
        await alice.close()
        await close_world(world)


async def test_a_failed_read_keeps_to_chargers_yaml(tmp_path: Path) -> None:
    world = await open_world(tmp_path, chargers=_chargers())
    try:
        ops16 = Ops(fail_reads=True)
        await _connect(world, ops16)
        assert await eventually(lambda: any(a == "GetConfiguration" for a, _ in ops16.received))
        assert await eventually(lambda: _advertised(world).get("E1") is True)
        assert await world.gateway.app[keys.STORE].find(COLLECTION) == []
        assert (await _candidates(world.gateway))["E1"] == (True, True)
    finally:
        await close_world(world)


async def test_the_other_instance_knows_too(tmp_path: Path, redis_url: str) -> None:
    world = await open_world(tmp_path, redis_url=redis_url, chargers=_chargers())
    port = free_port()
    other = await start_gateway(world.gateway.settings.model_copy(update={
        "listen": ListenSettings(host="127.0.0.1", port=port),
        "public_url": f"http://127.0.0.1:{port}", "instance_id": "gw-other"}))
    try:
        await _connect(world, _ops16("Core"))
        assert await eventually(lambda: _advertised(world).get("E1") is False)

        async def adopted() -> bool:
            return (await _candidates(other))["E1"] == (False, False)

        assert await eventually(adopted)
        status, body, _ = await world.emsp.call(
            "GET", f"{other.url}/ocpi/2.2.1/locations/{LOCATION}")
        assert status == 200
        assert ["RESERVABLE" in e.get("capabilities", []) for e in body["data"]["evses"]] \
            == [False, False, True]
    finally:
        await other.stop()
        await close_world(world)
