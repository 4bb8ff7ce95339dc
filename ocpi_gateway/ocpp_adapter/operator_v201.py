"""OCPP 2.0.1 operator commands (Reset, ChangeAvailability, TriggerMessage, Get/Set
Variables): requests and the station's answers, for :class:`ocpp_adapter.v201.V201Session`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ocpp.v201 import call
from ocpp.v201.enums import (
    MessageTriggerEnumType,
    OperationalStatusEnumType,
    ResetEnumType,
)

from ocpi_gateway.domain.charger_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    ChargerCommand,
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    Reset,
    ResetKind,
    SettingResult,
    SetVariables,
    TriggerMessage,
    VariableRef,
)

TRIGGERS = frozenset(item.value for item in MessageTriggerEnumType)

OPERATOR_COMMANDS = (Reset, ChangeAvailability, TriggerMessage, GetConfiguration,
                     ChangeConfiguration, GetVariables, SetVariables)

_OUTCOMES = {"Accepted": CommandOutcome.ACCEPTED, "Scheduled": CommandOutcome.SCHEDULED,
             "RebootRequired": CommandOutcome.ACCEPTED,
             "NotImplemented": CommandOutcome.NOT_SUPPORTED}
_SET_OK = frozenset({"Accepted", "RebootRequired"})


def _evse(evse_id: int | None, connector_id: int | None) -> dict[str, int] | None:
    if evse_id is None:
        return None
    return {"id": evse_id, **({"connector_id": connector_id} if connector_id is not None
                              else {})}


def _component(ref: VariableRef) -> dict[str, Any]:
    component: dict[str, Any] = {"name": ref.component}
    if ref.component_instance is not None:
        component["instance"] = ref.component_instance
    evse = _evse(ref.evse_id, ref.connector_id)
    if evse is not None:
        component["evse"] = evse
    return component


def _variable(ref: VariableRef) -> dict[str, Any]:
    variable: dict[str, Any] = {"name": ref.variable}
    if ref.variable_instance is not None:
        variable["instance"] = ref.variable_instance
    return variable


def build(command: ChargerCommand) -> Any:
    """The request, or a CommandOutcome when 2.0.1 cannot say it."""
    if isinstance(command, Reset):
        return call.Reset(type=ResetEnumType.immediate if command.kind is ResetKind.HARD
                          else ResetEnumType.on_idle, evse_id=command.evse_id)
    if isinstance(command, ChangeAvailability):
        if command.evse_id is None and command.connector_id is not None:
            return CommandOutcome.REJECTED  # a 2.0.1 connector is named within its EVSE
        return call.ChangeAvailability(
            operational_status=OperationalStatusEnumType.operative if command.operative
            else OperationalStatusEnumType.inoperative,
            evse=_evse(command.evse_id, command.connector_id))
    if isinstance(command, TriggerMessage):
        if command.message not in TRIGGERS or (
                command.evse_id is None and command.connector_id is not None):
            return CommandOutcome.NOT_SUPPORTED
        return call.TriggerMessage(requested_message=MessageTriggerEnumType(command.message),
                                   evse=_evse(command.evse_id, command.connector_id))
    if isinstance(command, GetVariables):
        return call.GetVariables(get_variable_data=[
            {"component": _component(ref), "variable": _variable(ref),
             **({"attribute_type": ref.attribute_type} if ref.attribute_type else {})}
            for ref in command.variables])
    if isinstance(command, SetVariables):
        return call.SetVariables(set_variable_data=[
            {"component": _component(ref), "variable": _variable(ref),
             "attribute_value": ref.value or "",
             **({"attribute_type": ref.attribute_type} if ref.attribute_type else {})}
            for ref in command.variables])
    return CommandOutcome.NOT_SUPPORTED  # GetConfiguration/ChangeConfiguration are 1.6's


def _setting(item: dict[str, Any], value: str | None) -> SettingResult:
    component = item.get("component") or {}
    variable = item.get("variable") or {}
    evse = component.get("evse") or {}
    return SettingResult(
        key=str(variable.get("name", "")), status=str(item.get("attribute_status", "")),
        value=value, component=component.get("name"),
        component_instance=component.get("instance"), variable_instance=variable.get("instance"),
        evse_id=evse.get("id"), connector_id=evse.get("connector_id"),
        attribute_type=item.get("attribute_type"))


_Where = tuple[str | None, str | None, int | None, int | None, str, str | None]


def _where(ref: VariableRef) -> _Where:
    return (ref.component, ref.component_instance, ref.evse_id, ref.connector_id,
            ref.variable, ref.variable_instance)


def reply(command: ChargerCommand, response: Any) -> CommandReply:
    if isinstance(command, GetVariables):
        return CommandReply(outcome=CommandOutcome.ACCEPTED, settings=tuple(
            _setting(item, item.get("attribute_value"))
            for item in response.get_variable_result or [] if isinstance(item, dict)))
    if isinstance(command, SetVariables):
        written = {_where(ref): ref.value for ref in command.variables}
        settings = []
        for item in response.set_variable_result or []:
            if not isinstance(item, dict):
                continue
            setting = _setting(item, None)
            value = written.get((setting.component, setting.component_instance,
                                 setting.evse_id, setting.connector_id, setting.key,
                                 setting.variable_instance))
            settings.append(replace(setting, value=value))
        ok = bool(settings) and all(s.status in _SET_OK for s in settings)
        single = settings[0].status if len(settings) == 1 else None
        return CommandReply(outcome=CommandOutcome.ACCEPTED if ok else CommandOutcome.REJECTED,
                            status=single, settings=tuple(settings))
    status = getattr(response, "status", None)
    status = str(status) if status is not None else None
    return CommandReply(outcome=_OUTCOMES.get(status or "", CommandOutcome.REJECTED),
                        status=status)

