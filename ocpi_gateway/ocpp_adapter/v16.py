"""OCPP 1.6J: inbound messages to domain events, commands to requests, answers to outcomes."""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
)
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call, call_result, datatypes
from ocpp.v16.enums import (
    Action,
    CancelReservationStatus,
    DataTransferStatus,
    MessageTrigger,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    TriggerMessageStatus,
    UnlockStatus,
)
from ocpp.v16.enums import (
    AuthorizationStatus as V16AuthStatus,
)

from ocpi_gateway.domain.authorization import AuthorizationDecision, AuthorizationStatus
from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommand,
    CommandOutcome,
    CommandReply,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    TriggerStatusNotification,
    UnlockConnector,
)
from ocpi_gateway.domain.events import (
    ChargerBooted,
    ConnectorStatus,
    ConnectorStatusChanged,
    MeterValueReported,
    TokenPresented,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import OcppVersion, ocpp16_id_tag
from ocpi_gateway.ocpp_adapter import operator_v16
from ocpi_gateway.ocpp_adapter.session import BootInfo, OcppSession, handles
from ocpi_gateway.ocpp_adapter.timefmt import parse_rfc3339, rfc3339

log = structlog.get_logger(__name__)

SUBPROTOCOL = "ocpp1.6"

RESERVE_OUTCOMES = {
    ReservationStatus.accepted: CommandOutcome.ACCEPTED,
    ReservationStatus.occupied: CommandOutcome.OCCUPIED,
    ReservationStatus.faulted: CommandOutcome.FAULTED,
    ReservationStatus.rejected: CommandOutcome.REJECTED,
    ReservationStatus.unavailable: CommandOutcome.UNAVAILABLE,
}
CANCEL_OUTCOMES = {
    CancelReservationStatus.accepted: CommandOutcome.ACCEPTED,
    CancelReservationStatus.rejected: CommandOutcome.REJECTED,
}
START_STOP_OUTCOMES = {
    RemoteStartStopStatus.accepted: CommandOutcome.ACCEPTED,
    RemoteStartStopStatus.rejected: CommandOutcome.REJECTED,
}
UNLOCK_OUTCOMES = {
    UnlockStatus.unlocked: CommandOutcome.ACCEPTED,
    UnlockStatus.unlock_failed: CommandOutcome.FAULTED,
    UnlockStatus.not_supported: CommandOutcome.NOT_SUPPORTED,
}
TRIGGER_OUTCOMES = {
    TriggerMessageStatus.accepted: CommandOutcome.ACCEPTED,
    TriggerMessageStatus.rejected: CommandOutcome.REJECTED,
    TriggerMessageStatus.not_implemented: CommandOutcome.NOT_SUPPORTED,
}
# 1.6 has no "Unknown": a token nobody knows is Invalid.
AUTH_STATUS = {
    AuthorizationStatus.ACCEPTED: V16AuthStatus.accepted,
    AuthorizationStatus.BLOCKED: V16AuthStatus.blocked,
    AuthorizationStatus.EXPIRED: V16AuthStatus.expired,
    AuthorizationStatus.INVALID: V16AuthStatus.invalid,
    AuthorizationStatus.UNKNOWN: V16AuthStatus.invalid,
}
ENERGY_MEASURAND = "Energy.Active.Import.Register"


def id_tag_info(decision: AuthorizationDecision) -> datatypes.IdTagInfo:
    parent = ocpp16_id_tag(decision.group_id) if decision.group_id else None
    return datatypes.IdTagInfo(status=AUTH_STATUS[decision.status], parent_id_tag=parent)


def energy_wh(meter_values: list[dict[str, Any]]) -> float | None:
    """The last Energy.Active.Import.Register reading (the default measurand), in Wh.

    1.6 gives the unit in ``unit``; 2.0.1 in ``unitOfMeasure`` (``unit``, default Wh, and
    ``multiplier``, a power of 10, default 0)."""
    found = energy_reading(meter_values)
    return found[0] if found is not None else None


def energy_reading(meter_values: list[dict[str, Any]]) -> tuple[float, str | None] | None:
    """The last energy register reading (see ``energy_wh``) and the ``timestamp`` of the
    MeterValue it is in."""
    reading: tuple[float, str | None] | None = None
    for meter_value in meter_values:
        for sample in meter_value.get("sampled_value", []):
            if sample.get("measurand", ENERGY_MEASURAND) != ENERGY_MEASURAND:
                continue
            if sample.get("phase"):
                continue
            measure = sample.get("unit_of_measure") or {}
            try:
                value = float(sample["value"]) * 10.0 ** int(measure.get("multiplier", 0))
            except (KeyError, TypeError, ValueError, OverflowError):
                continue
            unit = sample.get("unit") or measure.get("unit")
            stamp = meter_value.get("timestamp")
            reading = (value * 1000 if unit == "kWh" else value,
                       stamp if isinstance(stamp, str) else None)
    return reading


class V16Session(OcppSession, V16ChargePoint):  # type: ignore[misc]
    version = OcppVersion.V16
    format_violation = FormationViolationError
    rpc_violation = FormationViolationError  # 1.6 has no RpcFrameworkError
    known_actions: ClassVar[frozenset[str]] = frozenset(action.value for action in Action)

    def translate_error(self, error: OCPPError) -> OCPPError:
        # The package raises 2.0.1 spellings; 1.6 knows only its own (OCPP-J 1.6 4.2.3).
        if isinstance(error, FormatViolationError):
            return FormationViolationError(description=error.description, details=error.details)
        if isinstance(error, OccurrenceConstraintViolationError):
            return OccurenceConstraintViolationError(description=error.description,
                                                     details=error.details)
        return error

    def unknown_message_type_error(self, kind: object) -> OCPPError:
        return FormationViolationError(description=f"MessageTypeId {kind!r} is not valid")

    # -- inbound -------------------------------------------------------------------------

    @handles(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                             firmware_version: str | None = None,
                             **_: Any) -> call_result.BootNotification:
        self.boot = BootInfo(charge_point_vendor, charge_point_model, firmware_version)
        self.emit(ChargerBooted(charge_point_id=self.id, vendor=charge_point_vendor,
                                model=charge_point_model, firmware_version=firmware_version))
        return call_result.BootNotification(current_time=rfc3339(),
                                            interval=self.context.heartbeat_interval,
                                            status=RegistrationStatus.accepted)

    @handles(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=rfc3339())

    @handles(Action.status_notification)
    def on_status_notification(self, connector_id: int, status: str, error_code: str,
                               timestamp: str | None = None,
                               **_: Any) -> call_result.StatusNotification:
        self.emit(ConnectorStatusChanged(
            charge_point_id=self.id, evse_id=None, connector_id=connector_id,
            status=ConnectorStatus(status), timestamp=parse_rfc3339(timestamp),
        ))
        return call_result.StatusNotification()

    @handles(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        decision = await self.context.authorizer.authorize(self.id, id_tag)
        self.emit(TokenPresented(charge_point_id=self.id, id_token=id_tag))
        return call_result.Authorize(id_tag_info=id_tag_info(decision))

    @handles(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                                   timestamp: str, reservation_id: int | None = None,
                                   **_: Any) -> call_result.StartTransaction:
        decision = await self.context.authorizer.authorize(self.id, id_tag)
        transaction_id = await self.context.transaction_ids.next_id(self.id)
        # The charger has started whatever we answer (1.6 5.18); a refused token makes it
        # stop, which a StopTransaction will tell.
        self.emit(TransactionStarted(
            charge_point_id=self.id, transaction_id=str(transaction_id), evse_id=None,
            connector_id=connector_id, id_token=id_tag, reservation_id=reservation_id,
            meter_start_wh=float(meter_start), timestamp=parse_rfc3339(timestamp),
        ))
        return call_result.StartTransaction(transaction_id=transaction_id,
                                            id_tag_info=id_tag_info(decision))

    @handles(Action.stop_transaction)
    async def on_stop_transaction(self, transaction_id: int, meter_stop: int, timestamp: str,
                                  id_tag: str | None = None, reason: str | None = None,
                                  **_: Any) -> call_result.StopTransaction:
        info = None
        if id_tag:
            info = id_tag_info(await self.context.authorizer.authorize(self.id, id_tag))
        self.emit(TransactionEnded(
            charge_point_id=self.id, transaction_id=str(transaction_id),
            meter_stop_wh=float(meter_stop), reason=reason or "Local",
            timestamp=parse_rfc3339(timestamp),
        ))
        return call_result.StopTransaction(id_tag_info=info)

    @handles(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]],
                        transaction_id: int | None = None,
                        **_: Any) -> call_result.MeterValues:
        found = energy_reading(meter_value)
        if found is not None:
            self.emit(MeterValueReported(
                charge_point_id=self.id,
                transaction_id=str(transaction_id) if transaction_id is not None else None,
                evse_id=None, connector_id=connector_id, energy_wh=found[0],
                timestamp=parse_rfc3339(found[1]),
            ))
        return call_result.MeterValues()

    @handles(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         **_: Any) -> call_result.DataTransfer:
        # Core profile: answered, never a CallError; the gateway knows no vendor extension.
        log.info("ocpp_data_transfer_unknown_vendor", charge_point_id=self.id,
                 vendor_id=vendor_id[:255], message_id=(message_id or "")[:50])
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    # -- outbound ------------------------------------------------------------------------

    def build_request(self, command: ChargerCommand) -> Any:
        if isinstance(command, operator_v16.OPERATOR_COMMANDS):
            return operator_v16.build(command)
        if isinstance(command, ReserveNow):
            # connectorId 0 reserves the charger as a whole (needs ReserveConnectorZeroSupported).
            connector = command.connector_id if command.connector_id is not None \
                else command.evse_id if command.evse_id is not None else 0
            return call.ReserveNow(
                connector_id=connector, expiry_date=rfc3339(command.expiry),
                id_tag=ocpp16_id_tag(command.id_token), reservation_id=command.reservation_id,
                parent_id_tag=ocpp16_id_tag(command.group_id_token)
                if command.group_id_token else None,
            )
        if isinstance(command, CancelReservation):
            return call.CancelReservation(reservation_id=command.reservation_id)
        if isinstance(command, RemoteStart):
            start_on = command.connector_id if command.connector_id is not None \
                else command.evse_id
            return call.RemoteStartTransaction(id_tag=ocpp16_id_tag(command.id_token),
                                               connector_id=start_on)
        if isinstance(command, RemoteStop):
            try:
                transaction_id = int(command.transaction_id)
            except ValueError:
                log.warning("ocpp16_bad_transaction_id", charge_point_id=self.id,
                            transaction_id=command.transaction_id)
                return CommandOutcome.REJECTED
            return call.RemoteStopTransaction(transaction_id=transaction_id)
        if isinstance(command, UnlockConnector):
            return call.UnlockConnector(connector_id=command.connector_id)
        if isinstance(command, TriggerStatusNotification):
            trigger_on = command.connector_id if command.connector_id is not None \
                else command.evse_id
            return call.TriggerMessage(requested_message=MessageTrigger.status_notification,
                                       connector_id=trigger_on)
        return CommandOutcome.NOT_SUPPORTED

    def reply(self, command: ChargerCommand, response: Any) -> CommandReply:
        if isinstance(command, operator_v16.OPERATOR_COMMANDS):
            return operator_v16.reply(command, response)
        return super().reply(command, response)

    def outcome(self, command: ChargerCommand, response: Any) -> CommandOutcome:
        status = getattr(response, "status", None)
        table: dict[Any, CommandOutcome]
        if isinstance(command, ReserveNow):
            table = RESERVE_OUTCOMES
        elif isinstance(command, CancelReservation):
            table = CANCEL_OUTCOMES
        elif isinstance(command, (RemoteStart, RemoteStop)):
            table = START_STOP_OUTCOMES
        elif isinstance(command, TriggerStatusNotification):
            table = TRIGGER_OUTCOMES
        else:
            table = UNLOCK_OUTCOMES
        return table.get(status, CommandOutcome.REJECTED)
