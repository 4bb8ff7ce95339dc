"""START_SESSION, STOP_SESSION and UNLOCK_CONNECTOR end to end, and bad command input: eMSP POST
→ checks → OCPP call at a real charger → CommandResult at the loopback eMSP's response_url."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.sessions.extension import SESSIONS
from ocpi_gateway.sessions.models import Session
from tests.commands.support import (
    CP16,
    CP201,
    World,
    eventually,
    grant_helpdesk,
    start_body,
    token,
    unlock_body,
)
from tests.ocpp.ocpp_test_support import Behaviour


def now_z() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def session_on(world: World, cp_id: str) -> Session | None:
    found = await world.gateway.app[SESSIONS].repo.open_at(cp_id)
    return found[0] if found else None


# ---------------------------------------------------------------- START_SESSION


async def test_start_session_on_a_16_evse_sends_remote_start_with_the_id_tag(
        world: World) -> None:
    await world.all_available()
    reply = await world.command("START_SESSION", start_body(world, "s16", evse_uid="E2",
                                                            connector_id="1"))
    assert reply["status_code"] == 1000 and reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("s16"))["result"] == "ACCEPTED"
    sent = world.received(CP16, "RemoteStartTransaction")
    assert len(sent) == 1
    assert sent[0]["id_tag"] == "DEEMS0001"
    assert sent[0]["connector_id"] == 2  # E2 is connector 2 of the 1.6 charger
    assert world.received(CP201, "RequestStartTransaction") == []


async def test_start_session_on_a_201_evse_sends_request_start_with_id_token_and_evse(
        world: World) -> None:
    await world.all_available()
    await world.command("START_SESSION", start_body(world, "s201", evse_uid="E3",
                                                    connector_id="1"))
    assert (await world.result("s201"))["result"] == "ACCEPTED"
    sent = world.received(CP201, "RequestStartTransaction")
    assert len(sent) == 1
    assert sent[0]["id_token"] == {"id_token": "DEEMS0001", "type": "ISO14443"}
    assert sent[0]["evse_id"] == 1
    assert isinstance(sent[0]["remote_start_id"], int)


async def test_start_session_without_evse_picks_an_available_one(world: World) -> None:
    await world.all_available()
    # The 1.6 charger's connector 1 is busy: the gateway must not send the driver there.
    await world.status(CP16, 1, "Charging")
    reply = await world.command("START_SESSION", start_body(world, "pick"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("pick"))["result"] == "ACCEPTED"
    starts = [*[(CP16, p) for p in world.received(CP16, "RemoteStartTransaction")],
              *[(CP201, p) for p in world.received(CP201, "RequestStartTransaction")]]
    assert len(starts) == 1
    cp_id, payload = starts[0]
    if cp_id == CP16:
        assert payload["connector_id"] == 2
    else:
        assert payload["evse_id"] == 1


async def test_start_session_connector_required_without_connector_is_rejected_at_once(
        world: World) -> None:
    await world.all_available()
    reply = await world.command("START_SESSION", start_body(world, "req", evse_uid="E3"))
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "REJECTED"
    assert "START_SESSION_CONNECTOR_REQUIRED" in reply["data"]["message"][0]["text"]
    assert world.received(CP201, "RequestStartTransaction") == []


async def test_start_session_with_another_emsps_token_is_rejected(world: World) -> None:
    await world.all_available()
    reply = await world.command("START_SESSION", start_body(
        world, "other", evse_uid="E1", connector_id="1", country_code="FR", party_id="OTH"))
    assert reply["data"]["result"] == "REJECTED"
    assert world.received(CP16, "RemoteStartTransaction") == []


async def test_start_session_at_an_unknown_location_is_2003_rejected(world: World) -> None:
    await world.all_available()
    reply = await world.command("START_SESSION", start_body(world, "nowhere",
                                                            location_id="LOC-404"))
    assert reply["status_code"] == 2003
    assert reply["data"]["result"] == "REJECTED"


async def test_start_session_at_an_offline_charger_is_rejected_at_once(world: World) -> None:
    await world.connect(CP201)  # the 1.6 charger never connects
    reply = await world.command("START_SESSION", start_body(world, "off", evse_uid="E1",
                                                            connector_id="1"))
    assert reply["data"]["result"] == "REJECTED"
    assert "offline" in reply["data"]["message"][0]["text"]


async def test_start_session_refused_by_the_charger_is_rejected(world: World) -> None:
    await world.all_available()
    world.chargers[CP16].behaviour.start_stop = "Rejected"
    reply = await world.command("START_SESSION", start_body(world, "no", evse_uid="E1",
                                                            connector_id="1"))
    assert reply["data"]["result"] == "ACCEPTED"  # the charger has not spoken yet
    assert (await world.result("no"))["result"] == "REJECTED"
    assert len(world.received(CP16, "RemoteStartTransaction")) == 1


async def test_a_start_session_token_is_accepted_when_the_charger_authorizes_it(
        world: World) -> None:
    await world.all_available()
    uid = "DEEMS0777"
    # Never pushed through the Tokens module: before the command the charger hears Invalid.
    before = await world.chargers[CP16].charger.call(call16.Authorize(id_tag=uid))
    assert before.id_tag_info["status"] == "Invalid"
    await world.command("START_SESSION", start_body(world, "auth", evse_uid="E1",
                                                    connector_id="1", uid=uid))
    assert (await world.result("auth"))["result"] == "ACCEPTED"
    after16 = await world.chargers[CP16].charger.call(call16.Authorize(id_tag=uid))
    assert after16.id_tag_info["status"] == "Accepted"
    after201 = await world.chargers[CP201].charger.call(call201.Authorize(
        id_token={"id_token": uid, "type": "ISO14443"}))
    assert after201.id_token_info["status"] == "Accepted"


# ---------------------------------------------------------------- STOP_SESSION
# A transaction started at the charger is the session of the eMSP owning its token: the
# tests push it first (a session whose token no eMSP owns cannot be stopped by anyone:
# tests/sessions/test_isolation.py).


async def push_token(world: World, uid: str = "DEEMS0001") -> None:
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/{uid}", json=token(uid))
    assert body["status_code"] == 1000, body


async def test_stop_session_of_a_16_transaction(world: World) -> None:
    await world.all_available()
    await push_token(world)
    started = await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=1, id_tag="DEEMS0001", meter_start=0, timestamp=now_z()))
    session = await eventually(lambda: session_on(world, CP16))
    assert session is not None and session.status.value == "ACTIVE"
    assert session.transaction_id == str(started.transaction_id)
    assert await world.gateway.app[SESSIONS].get(session.id) == session
    reply = await world.command("STOP_SESSION", {
        "response_url": world.emsp.response_url("stop16"), "session_id": session.id})
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("stop16"))["result"] == "ACCEPTED"
    assert world.received(CP16, "RemoteStopTransaction") == [
        {"transaction_id": started.transaction_id}]


async def test_stop_session_of_a_201_transaction(world: World) -> None:
    await world.all_available()
    await push_token(world)
    await world.chargers[CP201].charger.call(call201.TransactionEvent(
        event_type="Started", timestamp=now_z(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "TX-STOP-1"}, evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "DEEMS0001", "type": "ISO14443"}))
    session = await eventually(lambda: session_on(world, CP201))
    assert session is not None
    await world.command("STOP_SESSION", {
        "response_url": world.emsp.response_url("stop201"), "session_id": session.id})
    assert (await world.result("stop201"))["result"] == "ACCEPTED"
    sent = world.received(CP201, "RequestStopTransaction")
    assert [p["transaction_id"] for p in sent] == ["TX-STOP-1"]


async def test_stop_of_an_unknown_session_is_unknown_session_at_once(world: World) -> None:
    await world.all_available()
    reply = await world.command("STOP_SESSION", {
        "response_url": world.emsp.response_url("nos"), "session_id": "no-such-session"})
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "UNKNOWN_SESSION"
    assert world.received(CP16, "RemoteStopTransaction") == []


# ---------------------------------------------------------------- UNLOCK_CONNECTOR
# These test the command itself, so the eMSP has the help-desk grant (who may unlock what:
# tests/commands/test_partner_isolation.py).


async def test_unlock_connector_unlocked_is_accepted(world: World) -> None:
    await grant_helpdesk(world)
    await world.all_available()
    reply = await world.command("UNLOCK_CONNECTOR", unlock_body(world, "ul", "E2"))
    assert reply["data"]["result"] == "ACCEPTED"
    assert (await world.result("ul"))["result"] == "ACCEPTED"
    assert world.received(CP16, "UnlockConnector") == [{"connector_id": 2}]


async def test_unlock_connector_on_201_names_evse_and_connector(world: World) -> None:
    await grant_helpdesk(world)
    await world.all_available()
    await world.command("UNLOCK_CONNECTOR", unlock_body(world, "ul201", "E3"))
    assert (await world.result("ul201"))["result"] == "ACCEPTED"
    assert world.received(CP201, "UnlockConnector") == [{"evse_id": 1, "connector_id": 1}]


async def test_unlock_failed_is_failed(world: World) -> None:
    await grant_helpdesk(world)
    await world.connect(CP16, Behaviour(unlock="UnlockFailed"))
    await world.connect(CP201)
    await world.command("UNLOCK_CONNECTOR", unlock_body(world, "uf", "E1"))
    assert (await world.result("uf"))["result"] == "FAILED"


async def test_unlock_of_an_unknown_evse_is_rejected(world: World) -> None:
    await world.all_available()
    reply = await world.command("UNLOCK_CONNECTOR", unlock_body(world, "ux", "E404"))
    assert reply["data"]["result"] == "REJECTED"
    assert world.all_received("UnlockConnector") == []


# ---------------------------------------------------------------- bad input


async def _post(world: World, name: str, body: Any) -> tuple[int, dict[str, Any]]:
    status, reply, _ = await world.emsp.call(
        "POST", f"{world.gateway.url}/ocpi/2.2.1/commands/{name}", json=body)
    assert status < 500, (status, reply)
    return status, dict(reply)


async def test_unknown_command_name_is_2001(world: World) -> None:
    status, reply = await _post(world, "SELF_DESTRUCT", {"response_url": "http://x/y"})
    assert status == 404
    assert reply["status_code"] == 2001
    assert "SELF_DESTRUCT" in reply["status_message"]


async def test_body_without_response_url_is_2001_naming_it(world: World) -> None:
    _, reply = await _post(world, "STOP_SESSION", {"session_id": "abc"})
    assert reply["status_code"] == 2001
    assert "response_url" in reply["status_message"]


async def test_token_missing_a_field_is_2001_naming_it(world: World) -> None:
    incomplete = {k: v for k, v in token().items() if k != "contract_id"}
    _, reply = await _post(world, "START_SESSION", {
        "response_url": world.emsp.response_url("bad"), "token": incomplete,
        "location_id": "LOC-1"})
    assert reply["status_code"] == 2001
    assert "token.contract_id" in reply["status_message"]


async def test_body_that_is_not_an_object_is_a_client_error(world: World) -> None:
    for body in ([1, 2], "text", None):
        _, reply = await _post(world, "UNLOCK_CONNECTOR", body)
        assert reply["status_code"] == 2001
    assert world.emsp.command_results == {}
