"""OCPP 1.6J operator commands (Reset, ChangeAvailability, TriggerMessage, Get/Change
Configuration): requests and the charger's answers, for :class:`ocpp_adapter.v16.V16Session`."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call
from ocpp.v16.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ConfigurationStatus,
    MessageTrigger,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
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
)

TRIGGERS = frozenset({MessageTrigger.boot_notification, MessageTrigger.firmware_status_notification,
                      MessageTrigger.heartbeat, MessageTrigger.meter_values,
                      MessageTrigger.status_notification,
                      MessageTrigger.diagnostics_status_notification})
"""TriggerMessage.req's requestedMessage (the others are ExtendedTriggerMessage's)."""

OPERATOR_COMMANDS = (Reset, ChangeAvailability, TriggerMessage, GetConfiguration,
                     ChangeConfiguration, GetVariables, SetVariables)

_OUTCOMES: dict[str, CommandOutcome] = {
    ResetStatus.accepted: CommandOutcome.ACCEPTED,
    ResetStatus.rejected: CommandOutcome.REJECTED,
    AvailabilityStatus.scheduled: CommandOutcome.SCHEDULED,
    ConfigurationStatus.reboot_required: CommandOutcome.ACCEPTED,
    ConfigurationStatus.not_supported: CommandOutcome.NOT_SUPPORTED,
    TriggerMessageStatus.not_implemented: CommandOutcome.NOT_SUPPORTED,
}


def build(command: ChargerCommand) -> Any:
    """The request, or a CommandOutcome when 1.6 cannot say it."""
    if isinstance(command, Reset):
        if command.evse_id is not None:
            return CommandOutcome.NOT_SUPPORTED  # 1.6 resets the whole charger
        return call.Reset(type=ResetType.hard if command.kind is ResetKind.HARD
                          else ResetType.soft)
    if isinstance(command, ChangeAvailability):
        connector = command.connector_id if command.connector_id is not None \
            else command.evse_id if command.evse_id is not None else 0
        return call.ChangeAvailability(
            connector_id=connector,
            type=AvailabilityType.operative if command.operative
            else AvailabilityType.inoperative)
    if isinstance(command, TriggerMessage):
        if command.message not in TRIGGERS:
            return CommandOutcome.NOT_SUPPORTED
        on = command.connector_id if command.connector_id is not None else command.evse_id
        return call.TriggerMessage(requested_message=MessageTrigger(command.message),
                                   connector_id=on)
    if isinstance(command, GetConfiguration):
        return call.GetConfiguration(key=list(command.keys) or None)
    if isinstance(command, ChangeConfiguration):
        return call.ChangeConfiguration(key=command.key, value=command.value)
    return CommandOutcome.NOT_SUPPORTED  # GetVariables/SetVariables are 2.0.1's


def status_outcome(status: str | None) -> CommandOutcome:
    if status is None:
        return CommandOutcome.REJECTED
    if status == "Accepted":
        return CommandOutcome.ACCEPTED
    return _OUTCOMES.get(status, CommandOutcome.REJECTED)


def reply(command: ChargerCommand, response: Any) -> CommandReply:
    if isinstance(command, GetConfiguration):
        known = [SettingResult(key=str(item.get("key", "")), status="Accepted",
                               value=item.get("value"), readonly=item.get("readonly"))
                 for item in response.configuration_key or [] if isinstance(item, dict)]
        unknown = [SettingResult(key=str(key), status="UnknownKey")
                   for key in response.unknown_key or []]
        return CommandReply(outcome=CommandOutcome.ACCEPTED, settings=(*known, *unknown))
    status = getattr(response, "status", None)
    status = str(status) if status is not None else None
    settings: tuple[SettingResult, ...] = ()
    if isinstance(command, ChangeConfiguration):
        settings = (SettingResult(key=command.key, status=status or "Rejected",
                                  value=command.value),)
    return CommandReply(outcome=status_outcome(status), status=status, settings=settings)
