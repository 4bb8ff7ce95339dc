"""Attacks on Sessions by a second eMSP over the real handshake: it reads none of the first
eMSP's sessions (GET, with or without routing headers naming the victim), gets none of their
pushes, and cannot stop them; a session whose token no eMSP owns is nobody's to read or stop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.sessions.extension import SESSIONS
from tests.commands.support import CP16, World, eventually, start_body
from tests.peers.emsp import EmspPeer
from tests.sessions.support import EMSP_MODULES, Rig, start16

AS_VICTIM = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
             "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"}


@pytest.fixture
async def attacker(rig: Rig) -> AsyncIterator[EmspPeer]:
    """eMSP X (DE-ATK), with a Sessions receiver, beside the world's eMSP (DE-EMS)."""
    world = rig.world
    peer = EmspPeer(party_id="ATK", name="Attacker", versions=("2.2.1", "2.3.0"),
                    ocpi_version=world.emsp.ocpi_version, modules=EMSP_MODULES)
    await peer.start()
    _, token_a = await world.gateway.partners.invite("X", peer.grants())
    _, body = await peer.register_with(world.gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


async def victim_session(world: World) -> str:
    await world.all_available()
    await world.command("START_SESSION", start_body(world, "go", evse_uid="E1",
                                                    connector_id="1"))
    assert (await world.result("go"))["result"] == "ACCEPTED"
    pending = await eventually(lambda: next(iter(world.emsp.sessions), None))
    assert pending is not None
    return str(pending)


async def get_sessions(peer: EmspPeer, world: World,
                       headers: dict[str, str] | None = None) -> dict[str, object]:
    status, body, _ = await peer.call(
        "GET", f"{world.gateway.url}/ocpi/{peer.ocpi_version}/sessions", headers=headers)
    assert status < 500
    return dict(body)


async def test_another_emsp_reads_none_of_the_sessions(rig: Rig, attacker: EmspPeer) -> None:
    world = rig.world
    session_id = await victim_session(world)
    await start16(world, rig.clock)
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "ACTIVE")
    mine = await get_sessions(world.emsp, world)
    assert [s["id"] for s in mine["data"]] == [session_id]  # type: ignore[attr-defined]
    theirs = await get_sessions(attacker, world)
    assert theirs["status_code"] == 1000 and theirs["data"] == []
    # Naming the victim in the routing headers is no way in (only a hub may forward).
    spoofed = await get_sessions(attacker, world, AS_VICTIM)
    assert spoofed.get("data") in (None, [])
    assert attacker.sessions == {} and attacker.session_pushes == []


async def test_another_emsp_cannot_stop_the_session(rig: Rig, attacker: EmspPeer) -> None:
    world = rig.world
    session_id = await victim_session(world)
    await start16(world, rig.clock)
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "ACTIVE")
    status, reply, _ = await attacker.call(
        "POST", f"{world.gateway.url}/ocpi/{attacker.ocpi_version}/commands/STOP_SESSION",
        json={"response_url": attacker.response_url("x"), "session_id": session_id})
    assert status == 200
    # As if unknown: whether another eMSP's session exists is not the attacker's to learn.
    assert reply["data"]["result"] == "UNKNOWN_SESSION", reply
    assert world.received(CP16, "RemoteStopTransaction") == []


async def test_a_session_no_emsp_owns_is_nobodys(rig: Rig, attacker: EmspPeer) -> None:
    world = rig.world
    await world.all_available()
    await start16(world, rig.clock, id_tag="UNKNOWN01")  # a token no eMSP pushed
    found = await eventually(lambda: world.gateway.app[SESSIONS].active_at(CP16))
    assert found and found[0].token is None
    for peer in (world.emsp, attacker):
        body = await get_sessions(peer, world)
        assert body["data"] == []
        _status, reply, _ = await peer.call(
            "POST", f"{world.gateway.url}/ocpi/{peer.ocpi_version}/commands/STOP_SESSION",
            json={"response_url": peer.response_url("x"), "session_id": found[0].id})
        assert reply["data"]["result"] == "UNKNOWN_SESSION", reply
    assert world.received(CP16, "RemoteStopTransaction") == []
    assert world.emsp.sessions == {} and attacker.sessions == {}
