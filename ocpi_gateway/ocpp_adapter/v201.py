"""OCPP 2.0.1: inbound messages to domain events, commands to requests, answers to outcomes."""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call, call_result, datatypes
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    CancelReservationStatusEnumType,
    ClearMessageStatusEnumType,
    DataTransferStatusEnumType,
    DisplayMessageStatusEnumType,
    IdTokenEnumType,
    MessageFormatEnumType,
    MessagePriorityEnumType,
    MessageTriggerEnumType,
    RegistrationStatusEnumType,
    RequestStartStopStatusEnumType,
    ReservationUpdateStatusEnumType,
    ReserveNowStatusEnumType,
    TransactionEventEnumType,
    TriggerMessageStatusEnumType,
    UnlockStatusEnumType,
)

from ocpi_gateway.domain.authorization import AuthorizationDecision
from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommand,
    ClearDisplayMessage,
    CommandOutcome,
    CommandReply,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    SetDisplayMessage,
    TriggerStatusNotification,
    UnlockConnector,
)
from ocpi_gateway.domain.connector_types import ocpp201_connector_type
from ocpi_gateway.domain.events import (
    ChargerBooted,
    ChargingStateChanged,
    ConnectorStatus,
    ConnectorStatusChanged,
    MeterValueReported,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.ocpp_adapter import operator_v201
from ocpi_gateway.ocpp_adapter.session import BootInfo, OcppSession, handles
from ocpi_gateway.ocpp_adapter.timefmt import parse_rfc3339, rfc3339
from ocpi_gateway.ocpp_adapter.v16 import energy_reading, energy_wh

log = structlog.get_logger(__name__)

_CHARGING_STATES = {"Charging": True, "SuspendedEVSE": True, "SuspendedEV": False,
                    "EVConnected": False, "Idle": False}
"""2.0.1 ChargingStateEnumType → whether the EV asks for energy: SuspendedEVSE is the
charger holding back an EV that asks (charging time); the others are an EV that does not
(parking time)."""

SUBPROTOCOL = "ocpp2.0.1"

RESERVE_OUTCOMES = {
    ReserveNowStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    ReserveNowStatusEnumType.occupied: CommandOutcome.OCCUPIED,
    ReserveNowStatusEnumType.faulted: CommandOutcome.FAULTED,
    ReserveNowStatusEnumType.rejected: CommandOutcome.REJECTED,
    ReserveNowStatusEnumType.unavailable: CommandOutcome.UNAVAILABLE,
}
CANCEL_OUTCOMES = {
    CancelReservationStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    CancelReservationStatusEnumType.rejected: CommandOutcome.REJECTED,
}
START_STOP_OUTCOMES = {
    RequestStartStopStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    RequestStartStopStatusEnumType.rejected: CommandOutcome.REJECTED,
}
UNLOCK_OUTCOMES = {
    UnlockStatusEnumType.unlocked: CommandOutcome.ACCEPTED,
    UnlockStatusEnumType.unlock_failed: CommandOutcome.FAULTED,
    UnlockStatusEnumType.ongoing_authorized_transaction: CommandOutcome.OCCUPIED,
    UnlockStatusEnumType.unknown_connector: CommandOutcome.REJECTED,
}
TRIGGER_OUTCOMES = {
    TriggerMessageStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    TriggerMessageStatusEnumType.rejected: CommandOutcome.REJECTED,
    TriggerMessageStatusEnumType.not_implemented: CommandOutcome.NOT_SUPPORTED,
}
DISPLAY_OUTCOMES = {
    DisplayMessageStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    DisplayMessageStatusEnumType.not_supported_message_format: CommandOutcome.NOT_SUPPORTED,
    DisplayMessageStatusEnumType.not_supported_priority: CommandOutcome.NOT_SUPPORTED,
    DisplayMessageStatusEnumType.not_supported_state: CommandOutcome.NOT_SUPPORTED,
    DisplayMessageStatusEnumType.rejected: CommandOutcome.REJECTED,
    DisplayMessageStatusEnumType.unknown_transaction: CommandOutcome.REJECTED,
}
CLEAR_DISPLAY_OUTCOMES = {
    ClearMessageStatusEnumType.accepted: CommandOutcome.ACCEPTED,
    # Unknown: nothing shown under that id (expired at its end time, or never shown).
    ClearMessageStatusEnumType.unknown: CommandOutcome.REJECTED,
}
RESERVATION_END = {
    ReservationUpdateStatusEnumType.expired: ReservationEndReason.EXPIRED,
    ReservationUpdateStatusEnumType.removed: ReservationEndReason.REMOVED,
}
ID_TOKEN_TYPES = frozenset(item.value for item in IdTokenEnumType)


def id_token(value: str, kind: str) -> datatypes.IdTokenType:
    # An OCPI token type (RFID, APP_USER, ...) is not an OCPP one: the CSMS vouches for it.
    token_type = kind if kind in ID_TOKEN_TYPES else IdTokenEnumType.central.value
    return datatypes.IdTokenType(id_token=value, type=token_type)


def id_token_info(decision: AuthorizationDecision) -> datatypes.IdTokenInfoType:
    group = id_token(decision.group_id, IdTokenEnumType.central.value) \
        if decision.group_id else None
    return datatypes.IdTokenInfoType(status=AuthorizationStatusEnumType(decision.status.value),
                                     group_id_token=group)


def display_message(command: SetDisplayMessage) -> datatypes.MessageInfoType:
    # NormalCycle: shown in turn with the charger's own messages, not over an error it shows.
    display = datatypes.ComponentType(
        name="DisplayMessageCtrlr",
        evse=datatypes.EVSEType(id=command.evse_id) if command.evse_id is not None else None)
    return datatypes.MessageInfoType(
        id=command.message_id, priority=MessagePriorityEnumType.normal_cycle,
        message=datatypes.MessageContentType(format=MessageFormatEnumType.utf8,
                                             content=command.text, language=command.language),
        end_date_time=rfc3339(command.ends_at) if command.ends_at is not None else None,
        display=display)


class V201Session(OcppSession, V201ChargePoint):  # type: ignore[misc]
    version = OcppVersion.V201
    known_actions: ClassVar[frozenset[str]] = frozenset(action.value for action in Action)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Transactions already announced with their reservation id (H01.FR.15 allows the id
        # to arrive on a later Updated event than Started).
        self._reserved_transactions: set[str] = set()

    # -- inbound -------------------------------------------------------------------------

    @handles(Action.boot_notification)
    def on_boot_notification(self, charging_station: dict[str, Any], reason: str,
                             **_: Any) -> call_result.BootNotification:
        self.boot = BootInfo(charging_station.get("vendor_name", ""),
                             charging_station.get("model", ""),
                             charging_station.get("firmware_version"))
        self.emit(ChargerBooted(
            charge_point_id=self.id, vendor=charging_station.get("vendor_name", ""),
            model=charging_station.get("model", ""),
            firmware_version=charging_station.get("firmware_version"),
        ))
        return call_result.BootNotification(current_time=rfc3339(),
                                            interval=self.context.heartbeat_interval,
                                            status=RegistrationStatusEnumType.accepted)

    @handles(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=rfc3339())

    @handles(Action.status_notification)
    def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int,
                               connector_id: int, **_: Any) -> call_result.StatusNotification:
        self.emit(ConnectorStatusChanged(
            charge_point_id=self.id, evse_id=evse_id, connector_id=connector_id,
            status=ConnectorStatus(connector_status), timestamp=parse_rfc3339(timestamp),
        ))
        return call_result.StatusNotification()

    @handles(Action.notify_event)
    def on_notify_event(self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]],
                        **_: Any) -> call_result.NotifyEvent:
        # Errata 2023-12 (H01.FR.20/23/24, G01): a connector's state may come as
        # NotifyEvent(component Connector, variable AvailabilityState) instead of a
        # StatusNotification.
        for item in event_data:
            component = item.get("component", {})
            evse = component.get("evse") or {}
            if component.get("name") != "Connector" \
                    or item.get("variable", {}).get("name") != "AvailabilityState" \
                    or "id" not in evse or "connector_id" not in evse:
                continue
            try:
                status = ConnectorStatus(str(item.get("actual_value")))
            except ValueError:
                log.info("ocpp201_unknown_availability_state", charge_point_id=self.id,
                         value=item.get("actual_value"))
                continue
            self.emit(ConnectorStatusChanged(
                charge_point_id=self.id, evse_id=evse["id"], connector_id=evse["connector_id"],
                status=status, timestamp=parse_rfc3339(item.get("timestamp")),
            ))
        return call_result.NotifyEvent()

    @handles(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        token = id_token["id_token"]
        decision = await self.context.authorizer.authorize(self.id, token)
        self.emit(TokenPresented(charge_point_id=self.id, id_token=token))
        return call_result.Authorize(id_token_info=id_token_info(decision))

    @handles(Action.transaction_event)
    async def on_transaction_event(self, event_type: str, timestamp: str,
                                   transaction_info: dict[str, Any], seq_no: int,
                                   trigger_reason: str,
                                   evse: dict[str, Any] | None = None,
                                   id_token: dict[str, Any] | None = None,
                                   reservation_id: int | None = None,
                                   meter_value: list[dict[str, Any]] | None = None,
                                   **_: Any) -> call_result.TransactionEvent:
        transaction_id: str = transaction_info["transaction_id"]
        token = id_token["id_token"] if id_token else None
        info = None
        if token is not None:
            info = id_token_info(await self.context.authorizer.authorize(self.id, token))
        at = parse_rfc3339(timestamp)
        evse_id = evse.get("id") if evse else None
        connector_id = evse.get("connector_id") if evse else None
        reading = energy_wh(meter_value or [])
        if event_type == TransactionEventEnumType.started or (
            reservation_id is not None and transaction_id not in self._reserved_transactions
        ):
            if reservation_id is not None:
                self._reserved_transactions.add(transaction_id)
            self.emit(TransactionStarted(
                charge_point_id=self.id, transaction_id=transaction_id, evse_id=evse_id,
                connector_id=connector_id, id_token=token, reservation_id=reservation_id,
                meter_start_wh=reading, timestamp=at,
            ))
        elif event_type == TransactionEventEnumType.updated and reading is not None:
            self.emit(MeterValueReported(
                charge_point_id=self.id, transaction_id=transaction_id, evse_id=evse_id,
                connector_id=connector_id, energy_wh=reading, timestamp=at,
            ))
        charging_state = transaction_info.get("charging_state")
        if charging_state in _CHARGING_STATES and event_type != TransactionEventEnumType.ended:
            self.emit(ChargingStateChanged(
                charge_point_id=self.id, transaction_id=transaction_id, evse_id=evse_id,
                charging=_CHARGING_STATES[charging_state], timestamp=at))
        if event_type == TransactionEventEnumType.ended:
            self._reserved_transactions.discard(transaction_id)
            self.emit(TransactionEnded(
                charge_point_id=self.id, transaction_id=transaction_id, meter_stop_wh=reading,
                reason=transaction_info.get("stopped_reason") or "Local", timestamp=at,
            ))
        return call_result.TransactionEvent(id_token_info=info)

    @handles(Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]],
                        **_: Any) -> call_result.MeterValues:
        found = energy_reading(meter_value)
        if found is not None:
            self.emit(MeterValueReported(charge_point_id=self.id, transaction_id=None,
                                         evse_id=evse_id, connector_id=None,
                                         energy_wh=found[0], timestamp=parse_rfc3339(found[1])))
        return call_result.MeterValues()

    @handles(Action.reservation_status_update)
    def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str,
                                     **_: Any) -> call_result.ReservationStatusUpdate:
        self.emit(ReservationEnded(
            charge_point_id=self.id, reservation_id=reservation_id,
            reason=RESERVATION_END[ReservationUpdateStatusEnumType(reservation_update_status)],
        ))
        return call_result.ReservationStatusUpdate()

    @handles(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         **_: Any) -> call_result.DataTransfer:
        # P02.FR.06: a vendorId the CSMS does not know is answered UnknownVendorId (we know none).
        log.info("ocpp_data_transfer_unknown_vendor", charge_point_id=self.id,
                 vendor_id=vendor_id[:255], message_id=(message_id or "")[:50])
        return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)

    # -- outbound ------------------------------------------------------------------------

    def build_request(self, command: ChargerCommand) -> Any:
        if isinstance(command, operator_v201.OPERATOR_COMMANDS):
            return operator_v201.build(command)
        if isinstance(command, ReserveNow):
            # Without evseId the station picks an EVSE (needs ReservationNonEvseSpecific).
            return call.ReserveNow(
                id=command.reservation_id, expiry_date_time=rfc3339(command.expiry),
                id_token=id_token(command.id_token, command.id_token_type),
                evse_id=command.evse_id,
                group_id_token=id_token(command.group_id_token, IdTokenEnumType.central.value)
                if command.group_id_token else None,
                connector_type=ocpp201_connector_type(command.connector_standard,
                                                      command.connector_format)
                if command.evse_id is None and command.connector_standard else None,
            )
        if isinstance(command, CancelReservation):
            return call.CancelReservation(reservation_id=command.reservation_id)
        if isinstance(command, RemoteStart):
            return call.RequestStartTransaction(
                id_token=id_token(command.id_token, command.id_token_type),
                remote_start_id=command.remote_start_id, evse_id=command.evse_id,
            )
        if isinstance(command, RemoteStop):
            return call.RequestStopTransaction(transaction_id=command.transaction_id)
        if isinstance(command, UnlockConnector):
            if command.evse_id is None:
                log.warning("ocpp201_unlock_without_evse", charge_point_id=self.id)
                return CommandOutcome.REJECTED
            return call.UnlockConnector(evse_id=command.evse_id,
                                        connector_id=command.connector_id)
        if isinstance(command, TriggerStatusNotification):
            # Without an EVSE the station reports every connector (F06.FR.12).
            evse = None if command.evse_id is None else {
                "id": command.evse_id, **({"connector_id": command.connector_id}
                                         if command.connector_id is not None else {})}
            return call.TriggerMessage(
                requested_message=MessageTriggerEnumType.status_notification, evse=evse)
        if isinstance(command, SetDisplayMessage):
            return call.SetDisplayMessage(message=display_message(command))
        if isinstance(command, ClearDisplayMessage):
            return call.ClearDisplayMessage(id=command.message_id)
        return CommandOutcome.NOT_SUPPORTED

    def reply(self, command: ChargerCommand, response: Any) -> CommandReply:
        if isinstance(command, operator_v201.OPERATOR_COMMANDS):
            return operator_v201.reply(command, response)
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
        elif isinstance(command, SetDisplayMessage):
            table = DISPLAY_OUTCOMES
        elif isinstance(command, ClearDisplayMessage):
            table = CLEAR_DISPLAY_OUTCOMES
        else:
            table = UNLOCK_OUTCOMES
        return table.get(status, CommandOutcome.REJECTED)
