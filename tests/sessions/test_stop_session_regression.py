"""Regression (conformance TC_012, TC_028, TC_E_21): an eMSP that started a session with
START_SESSION could not stop it, because the session id STOP_SESSION needs existed only in
the gateway's log. Now the START_SESSION CommandResult is followed by the Session (PUT to the
eMSP's Sessions receiver, and listed by GET {sessions}), and STOP_SESSION with that id stops
the charger's transaction."""

from __future__ import annotations

from tests.commands.support import CP16, CP201, eventually, start_body
from tests.sessions.support import Rig, event201, start16


async def test_the_id_pushed_after_start_session_stops_the_16_transaction(rig: Rig) -> None:
    world = rig.world
    await world.all_available()
    reply = await world.command("START_SESSION", start_body(world, "go", evse_uid="E1",
                                                            connector_id="1"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("go"))["result"] == "ACCEPTED"
    # The eMSP learns the session from its Sessions receiver, PENDING until the car starts.
    pending = await eventually(lambda: next(iter(world.emsp.sessions.values()), None))
    assert pending is not None and pending["status"] == "PENDING"
    assert (pending["location_id"], pending["evse_uid"]) == ("LOC-1", "E1")
    assert pending["cdr_token"]["uid"] == "DEEMS0001"
    session_id = pending["id"]
    transaction_id = await start16(world, rig.clock)
    assert await eventually(lambda: world.emsp.sessions[session_id]["status"] == "ACTIVE")
    reply = await world.command("STOP_SESSION", {
        "response_url": world.emsp.response_url("stop"), "session_id": session_id})
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("stop"))["result"] == "ACCEPTED"
    assert world.received(CP16, "RemoteStopTransaction") == [
        {"transaction_id": transaction_id}]


async def test_the_id_listed_by_get_sessions_stops_the_201_transaction(rig: Rig) -> None:
    world = rig.world
    await world.all_available()
    await world.command("START_SESSION", start_body(world, "go", evse_uid="E3",
                                                    connector_id="1"))
    assert (await world.result("go"))["result"] == "ACCEPTED"
    await event201(world, rig.clock, "Started", "TX-9", seq_no=0, kwh=0.0,
                   trigger="RemoteStart")
    version = world.emsp.ocpi_version
    status, body, _ = await world.emsp.call(
        "GET", f"{world.gateway.url}/ocpi/{version}/sessions")
    assert status == 200 and body["status_code"] == 1000, body
    [listed] = body["data"]
    assert listed["status"] == "ACTIVE" and listed["evse_uid"] == "E3"
    reply = await world.command("STOP_SESSION", {
        "response_url": world.emsp.response_url("stop"), "session_id": listed["id"]})
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("stop"))["result"] == "ACCEPTED"
    assert [p["transaction_id"] for p in world.received(CP201, "RequestStopTransaction")] \
        == ["TX-9"]
