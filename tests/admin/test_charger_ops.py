"""The operator's commands to chargers through the admin API: a real gateway, real OCPP 1.6
and 2.0.1 chargers over websockets, every answer checked against the served OpenAPI document,
every action in the audit log with who did it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from tests.admin.support import AdminClient, write_operators
from tests.commands.support import CP16, CP201, World, close_world, eventually, open_world
from tests.ocpp.operator_chargers import Ops, OpsCharger16, OpsCharger201

BASE = "/admin/api/chargers"


@dataclass
class Setup:
    world: World
    alice: AdminClient
    """An operator (bearer token)."""
    victor: AdminClient
    """A viewer (browser session)."""
    ops16: Ops
    ops201: Ops


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    world = await open_world(tmp_path, operators_file=operators)
    ops16 = Ops(configuration={"HeartbeatInterval": ("300", False),
                               "ReserveConnectorZeroSupported": ("false", True)})
    ops201 = Ops(variables={("OCPPCommCtrlr", "HeartbeatInterval"): "300"})
    await world.connect(CP16, charger_class=OpsCharger16, ops=ops16)
    await world.connect(CP201, charger_class=OpsCharger201, ops=ops201)
    # Each charger is read once at its boot (its reservation capabilities): not the
    # operator's doing.
    assert await eventually(lambda: ops16.received and ops201.received)
    ops16.received.clear()
    ops201.received.clear()
    alice, victor = AdminClient(world.gateway.url), AdminClient(world.gateway.url)
    assert (await alice.use_token("alice")).status == 201
    assert (await victor.login("victor")).status == 200
    yield Setup(world, alice, victor, ops16, ops201)
    await alice.close()
    await victor.close()
    await close_world(world)


async def _charger_audit(setup: Setup) -> list[dict[str, Any]]:
    audit = await setup.world.gateway.app[keys.STORE].find(AUDIT, order_by="at")
    return [e for e in audit if e["action"].startswith("charger.")
            or e["action"].startswith("POST /admin/api/chargers")]


def _sent(ops: Ops, action: str) -> list[dict[str, Any]]:
    return [p for a, p in ops.received if a == action]


async def test_reset_in_each_versions_terms_and_audited(setup: Setup) -> None:
    alice = setup.alice
    soft = await alice.call("POST", f"{BASE}/{CP16}/reset", json={"type": "Soft"})
    assert soft.status == 200, soft.body
    assert soft.body["status"] == "Accepted" and soft.body["command"] == "Reset"
    assert soft.body["ocpp_version"] == "1.6" and soft.body["outcome"] == "accepted"
    setup.ops201.reset = "Scheduled"
    idle = await alice.call("POST", f"{BASE}/{CP201}/reset",
                            json={"type": "OnIdle", "evse_id": 1})
    assert (idle.status, idle.body["status"]) == (200, "Scheduled")
    assert _sent(setup.ops16, "Reset") == [{"type": "Soft"}]
    assert _sent(setup.ops201, "Reset") == [{"type": "OnIdle", "evse_id": 1}]
    # Each version's own words only.
    wrong = await alice.call("POST", f"{BASE}/{CP201}/reset", json={"type": "Soft"})
    assert wrong.status == 400 and "OnIdle or Immediate" in wrong.body["message"]
    wrong = await alice.call("POST", f"{BASE}/{CP16}/reset", json={"type": "Immediate"})
    assert wrong.status == 400 and "Soft or Hard" in wrong.body["message"]
    assert (await alice.call("POST", f"{BASE}/{CP16}/reset",
                             json={"type": "Hard", "evse_id": 1})).status == 400
    audit = await _charger_audit(setup)
    assert [(e["operator"], e["action"], e["target"], e["outcome"]) for e in audit][:2] == [
        ("alice", "charger.reset", {"charge_point_id": CP16}, "ok"),
        ("alice", "charger.reset", {"charge_point_id": CP201}, "ok")]
    assert audit[1]["details"] == {"type": "OnIdle", "evse_id": 1}
    assert audit[2]["outcome"].startswith("refused: invalid")


async def test_only_operators_and_never_unauthenticated(setup: Setup) -> None:
    anonymous = AdminClient(setup.world.gateway.url)
    try:
        anonymous.checker = setup.alice.checker
        for path, body in (("reset", {"type": "Soft"}),
                           ("change-availability", {"operational_status": "Inoperative"}),
                           ("trigger-message", {"requested_message": "Heartbeat"}),
                           ("configuration", {"action": "get"}),
                           ("unlock", {"connector_id": 1})):
            none = await anonymous.call("POST", f"{BASE}/{CP16}/{path}", json=body)
            assert none.status == 401, path
            viewer = await setup.victor.call("POST", f"{BASE}/{CP16}/{path}", json=body)
            assert viewer.status == 403 and viewer.body["error"] == "forbidden", path
    finally:
        await anonymous.close()
    # Nothing reached the charger; the viewer's attempts are in the audit log.
    assert not setup.ops16.received
    audit = await _charger_audit(setup)
    assert {(e["operator"], e["outcome"]) for e in audit} == {("victor", "refused: forbidden")}
    assert len(audit) == 5


async def test_the_operations_are_in_the_openapi_document(setup: Setup) -> None:
    document = setup.alice.checker.document  # type: ignore[union-attr]
    for path in ("reset", "change-availability", "trigger-message", "configuration",
                 "unlock"):
        operation = document["paths"][f"{BASE}/{{charge_point_id}}/{path}"]["post"]
        assert {"200", "400", "401", "403", "404", "409", "503"} <= set(operation["responses"])
        assert "application/json" in operation["requestBody"]["content"]
        assert operation["tags"] == ["charger commands"]


async def test_offline_unknown_and_bad_bodies(setup: Setup) -> None:
    alice = setup.alice
    await setup.world.chargers[CP16].disconnect()

    async def offline() -> bool:
        answer = await alice.call("POST", f"{BASE}/{CP16}/reset", json={"type": "Soft"})
        return answer.status == 409

    assert await eventually(offline)
    gone = await alice.call("POST", f"{BASE}/{CP16}/reset", json={"type": "Soft"})
    assert gone.body["error"] == "offline" and CP16 in gone.body["message"]
    assert (await alice.call("POST", f"{BASE}/NOPE/reset", json={"type": "Soft"})).status == 404
    for body in ({}, {"type": "Sideways"}, {"type": "Soft", "extra": 1},
                 {"type": "OnIdle", "evse_id": 0}, [], "x"):
        bad = await alice.call("POST", f"{BASE}/{CP201}/reset", json=body)
        assert bad.status == 400, body
    raw = await alice.raw("POST", f"{BASE}/{CP201}/reset", headers={
        "Content-Type": "application/json"}, json=None)
    assert raw.status == 400
    not_json = await alice.http.post(
        f"{setup.world.gateway.url}{BASE}/{CP201}/reset", data=b"{nope",
        headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"})
    assert not_json.status == 400
    assert not setup.ops201.received


async def test_configuration_16_keys(setup: Setup) -> None:
    alice = setup.alice
    got = await alice.call("POST", f"{BASE}/{CP16}/configuration",
                           json={"action": "get", "keys": ["HeartbeatInterval", "Nope"]})
    assert got.status == 200 and got.body["command"] == "GetConfiguration"
    assert [(s["key"], s["value"], s["readonly"], s["status"]) for s in got.body["settings"]] \
        == [("HeartbeatInterval", "300", False, "Accepted"), ("Nope", None, None, "UnknownKey")]
    every = await alice.call("POST", f"{BASE}/{CP16}/configuration", json={"action": "get"})
    assert len(every.body["settings"]) == 2
    changed = await alice.call("POST", f"{BASE}/{CP16}/configuration", json={
        "action": "set", "key": "HeartbeatInterval", "value": "60"})
    assert (changed.body["command"], changed.body["status"]) == ("ChangeConfiguration",
                                                                 "Accepted")
    refused = await alice.call("POST", f"{BASE}/{CP16}/configuration", json={
        "action": "set", "key": "ReserveConnectorZeroSupported", "value": "true"})
    assert (refused.status, refused.body["status"], refused.body["outcome"]) == (
        200, "Rejected", "rejected")
    for body in ({"action": "get", "variables": [{"component": "A", "variable": "B"}]},
                 {"action": "set", "key": "HeartbeatInterval"},
                 {"action": "get", "key": "HeartbeatInterval"},
                 {"action": "get", "keys": ["x" * 51]}, {"action": "read"}):
        bad = await alice.call("POST", f"{BASE}/{CP16}/configuration", json=body)
        assert bad.status == 400, body
    assert setup.ops16.configuration["HeartbeatInterval"] == ("60", False)


async def test_configuration_201_variables(setup: Setup) -> None:
    alice = setup.alice
    got = await alice.call("POST", f"{BASE}/{CP201}/configuration", json={
        "action": "get", "variables": [
            {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
            {"component": "EVSE", "variable": "Power", "evse_id": 1,
             "attribute_type": "MaxSet"}]})
    assert got.status == 200 and got.body["command"] == "GetVariables"
    assert [(s["component"], s["key"], s["value"], s["status"], s["evse_id"])
            for s in got.body["settings"]] == [
        ("OCPPCommCtrlr", "HeartbeatInterval", "300", "Accepted", None),
        ("EVSE", "Power", None, "UnknownVariable", 1)]
    setup.ops201.set_variable = "RebootRequired"
    written = await alice.call("POST", f"{BASE}/{CP201}/configuration", json={
        "action": "set", "variables": [
            {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"}]})
    assert (written.body["command"], written.body["status"], written.body["outcome"]) == (
        "SetVariables", "RebootRequired", "accepted")
    for body in ({"action": "get", "keys": ["HeartbeatInterval"]},
                 {"action": "set", "variables": [{"component": "A", "variable": "B"}]},
                 {"action": "get", "variables": [{"component": "A", "variable": "B",
                                                  "value": "1"}]},
                 {"action": "get", "variables": [{"component": "A", "variable": "B",
                                                  "connector_id": 1}]},
                 {"action": "get", "variables": []},
                 {"action": "get", "variables": [{"component": "", "variable": "B"}]}):
        bad = await alice.call("POST", f"{BASE}/{CP201}/configuration", json=body)
        assert bad.status == 400, body
    assert len(_sent(setup.ops201, "GetVariables")) == 1


async def test_trigger_message_and_unlock(setup: Setup) -> None:
    alice, world = setup.alice, setup.world
    meter = await alice.call("POST", f"{BASE}/{CP16}/trigger-message",
                             json={"requested_message": "MeterValues", "connector_id": 1})
    assert (meter.status, meter.body["status"]) == (200, "Accepted")
    assert world.received(CP16, "TriggerMessage")[-1] == {
        "requested_message": "MeterValues", "connector_id": 1}
    only_201 = await alice.call("POST", f"{BASE}/{CP16}/trigger-message",
                                json={"requested_message": "TransactionEvent"})
    assert only_201.status == 400 and "DiagnosticsStatusNotification" in only_201.body["message"]
    world.chargers[CP201].behaviour.trigger = "Rejected"
    tx = await alice.call("POST", f"{BASE}/{CP201}/trigger-message",
                          json={"requested_message": "TransactionEvent", "evse_id": 1})
    assert (tx.status, tx.body["status"], tx.body["outcome"]) == (200, "Rejected", "rejected")
    assert (await alice.call("POST", f"{BASE}/{CP201}/trigger-message", json={
        "requested_message": "Heartbeat", "connector_id": 1})).status == 400
    world.chargers[CP16].behaviour.unlock = "NotSupported"
    unlock = await alice.call("POST", f"{BASE}/{CP16}/unlock", json={"connector_id": 2})
    assert (unlock.body["command"], unlock.body["status"], unlock.body["outcome"]) == (
        "UnlockConnector", "NotSupported", "not_supported")
    unlock = await alice.call("POST", f"{BASE}/{CP201}/unlock",
                              json={"evse_id": 1, "connector_id": 1})
    assert unlock.body["status"] == "Unlocked"
    assert (await alice.call("POST", f"{BASE}/{CP201}/unlock",
                             json={"connector_id": 1})).status == 400
    assert (await alice.call("POST", f"{BASE}/{CP16}/unlock",
                             json={"connector_id": 0})).status == 400


async def test_a_charger_that_does_not_answer_is_a_clear_503(setup: Setup) -> None:
    hang = asyncio.Event()
    setup.world.chargers[CP16].behaviour.hang = hang
    try:
        answer = await setup.alice.call("POST", f"{BASE}/{CP16}/unlock",
                                        json={"connector_id": 1})
        assert answer.status == 503 and answer.body["error"] == "timeout"
        assert "did not answer" in answer.body["message"]
    finally:
        hang.set()
