"""The operator's commands (Reset, ChangeAvailability, TriggerMessage, UnlockConnector, 1.6
Get/ChangeConfiguration, 2.0.1 Get/SetVariables) to real OCPP 1.6J and 2.0.1 chargers over
websockets, on one instance and from another instance through a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ocpp_test_support import Behaviour, ChargerFactory, Gateway, start_gateway

from ocpi_gateway.domain.charger_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    Reset,
    ResetKind,
    SettingResult,
    SetVariables,
    TriggerMessage,
    UnlockConnector,
    VariableRef,
)
from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.ocpp_adapter.routing.codec import (
    decode_command,
    decode_reply,
    encode_command,
    encode_reply,
)
from tests.ocpp.operator_chargers import Ops, connect_ops

CP16 = "CP-AMS-01"
CP201 = "CP-AMS-02"


@pytest.mark.parametrize(("kind", "wire"), [(ResetKind.SOFT, "Soft"), (ResetKind.HARD, "Hard")])
async def test_reset_16_says_soft_or_hard(gateway: Gateway, chargers: ChargerFactory,
                                          kind: ResetKind, wire: str) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP16, ops=Ops(reset="Rejected"))
    reply = await gateway.server.commands.ask(Reset(charge_point_id=CP16, kind=kind), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.REJECTED, "Rejected")
    assert ops.received == [("Reset", {"type": wire})]


async def test_reset_201_scheduled_and_of_one_evse(gateway: Gateway,
                                                   chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP201, "2.0.1", Ops(reset="Scheduled"))
    reply = await gateway.server.commands.ask(
        Reset(charge_point_id=CP201, kind=ResetKind.SOFT, evse_id=2), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.SCHEDULED, "Scheduled")
    assert ops.received == [("Reset", {"type": "OnIdle", "evse_id": 2})]
    await gateway.server.commands.ask(Reset(charge_point_id=CP201, kind=ResetKind.HARD), 5)
    assert ops.received[-1] == ("Reset", {"type": "Immediate"})


async def test_reset_of_one_evse_is_not_said_in_16(gateway: Gateway,
                                                   chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP16)
    reply = await gateway.server.commands.ask(
        Reset(charge_point_id=CP16, kind=ResetKind.SOFT, evse_id=1), 5)
    assert reply.outcome is CommandOutcome.NOT_SUPPORTED and not ops.received


async def test_change_availability_16_connector_then_status(gateway: Gateway,
                                                            chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP16)
    reply = await gateway.server.commands.ask(
        ChangeAvailability(charge_point_id=CP16, operative=False, connector_id=2), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.ACCEPTED, "Accepted")
    assert ops.received == [("ChangeAvailability", {"connector_id": 2, "type": "Inoperative"})]
    event = await gateway.events.wait_for(lambda e: isinstance(e, ConnectorStatusChanged))
    assert (event.connector_id, event.status) == (2, ConnectorStatus.UNAVAILABLE)  # type: ignore[attr-defined]
    ops.availability = "Scheduled"
    reply = await gateway.server.commands.ask(
        ChangeAvailability(charge_point_id=CP16, operative=True), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.SCHEDULED, "Scheduled")
    assert ops.received[-1] == ("ChangeAvailability", {"connector_id": 0, "type": "Operative"})


async def test_change_availability_201_evse_and_station(gateway: Gateway,
                                                        chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP201, "2.0.1", Ops(availability="Rejected"))
    reply = await gateway.server.commands.ask(
        ChangeAvailability(charge_point_id=CP201, operative=False, evse_id=1), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.REJECTED, "Rejected")
    await gateway.server.commands.ask(
        ChangeAvailability(charge_point_id=CP201, operative=True, evse_id=1, connector_id=1), 5)
    await gateway.server.commands.ask(ChangeAvailability(charge_point_id=CP201,
                                                         operative=False), 5)
    assert [p for _, p in ops.received] == [
        {"operational_status": "Inoperative", "evse": {"id": 1}},
        {"operational_status": "Operative", "evse": {"id": 1, "connector_id": 1}},
        {"operational_status": "Inoperative"}]
    # A connector without its EVSE cannot be said in 2.0.1: nothing is sent.
    reply = await gateway.server.commands.ask(
        ChangeAvailability(charge_point_id=CP201, operative=False, connector_id=1), 5)
    assert reply.outcome is CommandOutcome.REJECTED and len(ops.received) == 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_trigger_message_of_the_versions_own_messages(
        gateway: Gateway, chargers: ChargerFactory, version: str) -> None:
    cp_id = CP16 if version == "1.6" else CP201
    cp, _ = await connect_ops(chargers, gateway.url, cp_id, version,
                              behaviour=Behaviour(trigger="NotImplemented"))
    reply = await gateway.server.commands.ask(
        TriggerMessage(charge_point_id=cp_id, message="MeterValues", evse_id=1), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.NOT_SUPPORTED, "NotImplemented")
    sent = cp.behaviour.received[-1][1]
    assert sent == ({"requested_message": "MeterValues", "connector_id": 1} if version == "1.6"
                    else {"requested_message": "MeterValues", "evse": {"id": 1}})
    # TransactionEvent is 2.0.1's only: a 1.6 charger is never asked it.
    only_201 = await gateway.server.commands.ask(
        TriggerMessage(charge_point_id=cp_id, message="TransactionEvent"), 5)
    if version == "1.6":
        assert only_201.outcome is CommandOutcome.NOT_SUPPORTED and only_201.status is None
        assert len(cp.behaviour.received) == 1
    else:
        assert only_201.status == "NotImplemented"


async def test_unlock_16(gateway: Gateway, chargers: ChargerFactory) -> None:
    cp, _ = await connect_ops(chargers, gateway.url, CP16,
                              behaviour=Behaviour(unlock="UnlockFailed"))
    reply = await gateway.server.commands.ask(
        UnlockConnector(charge_point_id=CP16, evse_id=None, connector_id=2), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.FAULTED, "UnlockFailed")
    assert cp.behaviour.received == [("UnlockConnector", {"connector_id": 2})]


async def test_get_and_change_configuration_16(gateway: Gateway,
                                               chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP16, ops=Ops(configuration={
        "HeartbeatInterval": ("300", False), "ReserveConnectorZeroSupported": ("true", True)}))
    commands = gateway.server.commands
    reply = await commands.ask(GetConfiguration(
        charge_point_id=CP16, keys=("HeartbeatInterval", "NoSuchKey")), 5)
    assert reply.outcome is CommandOutcome.ACCEPTED
    assert reply.settings == (
        SettingResult(key="HeartbeatInterval", status="Accepted", value="300", readonly=False),
        SettingResult(key="NoSuchKey", status="UnknownKey"))
    every = await commands.ask(GetConfiguration(charge_point_id=CP16), 5)
    assert {s.key for s in every.settings} == {"HeartbeatInterval",
                                              "ReserveConnectorZeroSupported"}
    assert ops.received[-1] == ("GetConfiguration", {"key": None})
    changed = await commands.ask(ChangeConfiguration(
        charge_point_id=CP16, key="HeartbeatInterval", value="60"), 5)
    assert (changed.outcome, changed.status) == (CommandOutcome.ACCEPTED, "Accepted")
    assert ops.configuration["HeartbeatInterval"] == ("60", False)
    readonly = await commands.ask(ChangeConfiguration(
        charge_point_id=CP16, key="ReserveConnectorZeroSupported", value="false"), 5)
    assert (readonly.outcome, readonly.status) == (CommandOutcome.REJECTED, "Rejected")
    ops.change_configuration = "RebootRequired"
    reboot = await commands.ask(ChangeConfiguration(
        charge_point_id=CP16, key="HeartbeatInterval", value="90"), 5)
    assert (reboot.outcome, reboot.status) == (CommandOutcome.ACCEPTED, "RebootRequired")
    # 2.0.1's device model is not 1.6's: nothing is sent.
    sent = len(ops.received)
    assert (await commands.ask(GetVariables(charge_point_id=CP16, variables=(
        VariableRef(component="OCPPCommCtrlr", variable="HeartbeatInterval"),)), 5)
        ).outcome is CommandOutcome.NOT_SUPPORTED
    assert len(ops.received) == sent


async def test_get_and_set_variables_201(gateway: Gateway, chargers: ChargerFactory) -> None:
    _, ops = await connect_ops(chargers, gateway.url, CP201, "2.0.1", Ops(variables={
        ("ReservationCtrlr", "Enabled"): "true", ("OCPPCommCtrlr", "HeartbeatInterval"): "300"}))
    commands = gateway.server.commands
    reply = await commands.ask(GetVariables(charge_point_id=CP201, variables=(
        VariableRef(component="ReservationCtrlr", variable="Enabled"),
        VariableRef(component="EVSE", variable="Power", evse_id=1, attribute_type="MaxSet"))), 5)
    assert reply.outcome is CommandOutcome.ACCEPTED
    assert reply.settings == (
        SettingResult(key="Enabled", status="Accepted", value="true",
                      component="ReservationCtrlr"),
        SettingResult(key="Power", status="UnknownVariable", component="EVSE", evse_id=1))
    assert ops.received[0][1]["get_variable_data"][1] == {
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
        "attribute_type": "MaxSet"}
    written = await commands.ask(SetVariables(charge_point_id=CP201, variables=(
        VariableRef(component="OCPPCommCtrlr", variable="HeartbeatInterval", value="60"),)), 5)
    assert (written.outcome, written.status) == (CommandOutcome.ACCEPTED, "Accepted")
    assert written.settings[0].value == "60"
    assert ops.variables[("OCPPCommCtrlr", "HeartbeatInterval")] == "60"
    unknown = await commands.ask(SetVariables(charge_point_id=CP201, variables=(
        VariableRef(component="Nope", variable="Nope", value="1"),
        VariableRef(component="OCPPCommCtrlr", variable="HeartbeatInterval", value="30"))), 5)
    assert unknown.outcome is CommandOutcome.REJECTED and unknown.status is None
    assert [s.status for s in unknown.settings] == ["UnknownVariable", "Accepted"]
    assert (await commands.ask(GetConfiguration(charge_point_id=CP201), 5)
            ).outcome is CommandOutcome.NOT_SUPPORTED


async def test_call_error_answer_is_rejected_with_its_code(gateway: Gateway,
                                                           chargers: ChargerFactory) -> None:
    await connect_ops(chargers, gateway.url, CP16, ops=Ops(fail_reads=True))
    reply = await gateway.server.commands.ask(GetConfiguration(charge_point_id=CP16), 5)
    assert reply.outcome is CommandOutcome.REJECTED and reply.error == "InternalError"


async def test_offline_charger(gateway: Gateway) -> None:
    reply = await gateway.server.commands.ask(Reset(charge_point_id=CP16,
                                                    kind=ResetKind.SOFT), 5)
    assert reply.outcome is CommandOutcome.OFFLINE and reply.status is None


def test_codec_round_trips_every_operator_command() -> None:
    for command in (
            Reset(charge_point_id=CP16, kind=ResetKind.HARD, evse_id=1),
            ChangeAvailability(charge_point_id=CP16, operative=False, evse_id=1, connector_id=2),
            TriggerMessage(charge_point_id=CP16, message="Heartbeat"),
            GetConfiguration(charge_point_id=CP16, keys=("A", "B")),
            ChangeConfiguration(charge_point_id=CP16, key="A", value="1"),
            GetVariables(charge_point_id=CP16, variables=(VariableRef(
                component="C", variable="V", evse_id=1, attribute_type="Target"),)),
            SetVariables(charge_point_id=CP16, variables=(VariableRef(
                component="C", variable="V", value="x"),))):
        assert decode_command(encode_command(command)) == command
    reply = decode_reply(encode_reply(
        CommandReply(outcome=CommandOutcome.SCHEDULED, status="Scheduled",
                      settings=(SettingResult(key="K", status="UnknownKey"),))))
    assert reply.settings[0].key == "K" and reply.outcome is CommandOutcome.SCHEDULED


@pytest.fixture
async def two_gateways(redis_url: str) -> AsyncIterator[tuple[Gateway, Gateway]]:
    a = await start_gateway(redis_url=redis_url, instance_id="gw-a")
    b = await start_gateway(redis_url=redis_url, instance_id="gw-b")
    yield a, b
    await a.close()
    await b.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_answers_come_back_whole_from_another_instance(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory, version: str) -> None:
    a, b = two_gateways
    cp_id = CP16 if version == "1.6" else CP201
    _, ops = await connect_ops(chargers, a.url, cp_id, version, Ops(
        availability="Scheduled", configuration={"HeartbeatInterval": ("300", False)},
        variables={("OCPPCommCtrlr", "HeartbeatInterval"): "300"}))
    await a.events.wait_for(lambda e: e.charge_point_id == cp_id)
    assert await b.server.commands.is_online(cp_id)
    reply = await b.server.commands.ask(
        ChangeAvailability(charge_point_id=cp_id, operative=False, evse_id=1), 5)
    assert (reply.outcome, reply.status) == (CommandOutcome.SCHEDULED, "Scheduled")
    read = GetConfiguration(charge_point_id=cp_id, keys=("HeartbeatInterval",)) \
        if version == "1.6" else GetVariables(charge_point_id=cp_id, variables=(
            VariableRef(component="OCPPCommCtrlr", variable="HeartbeatInterval"),))
    settings = (await b.server.commands.ask(read, 5)).settings
    assert [(s.key, s.value, s.status) for s in settings] == [
        ("HeartbeatInterval", "300", "Accepted")]
    assert [name for name, _ in ops.received] == [
        "ChangeAvailability", "GetConfiguration" if version == "1.6" else "GetVariables"]
    # The plain outcome too, for the callers that want no more.
    assert await b.server.commands.execute(
        Reset(charge_point_id=cp_id, kind=ResetKind.SOFT), 5) is CommandOutcome.ACCEPTED
