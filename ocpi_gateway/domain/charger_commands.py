"""Commands the gateway sends to chargers, independent of the OCPP version, and their outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class CommandOutcome(StrEnum):
    ACCEPTED = "accepted"
    OCCUPIED = "occupied"
    FAULTED = "faulted"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    OFFLINE = "offline"
    NOT_SUPPORTED = "not_supported"
    SCHEDULED = "scheduled"
    """Accepted, to be done later (Reset, ChangeAvailability during a transaction)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerCommand:
    charge_point_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReserveNow(ChargerCommand):
    """Reserve an EVSE/connector, or the whole charger when evse_id and connector_id are None.

    ``reservation_id`` is the OCPP reservation id the gateway generated (never an eMSP's id).
    ``id_token`` is the OCPI token uid; the adapter maps it to a 1.6 idTag with
    :func:`ocpi_gateway.domain.ids.ocpp16_id_tag`.
    """

    reservation_id: int
    expiry: datetime
    id_token: str
    id_token_type: str = "ISO14443"
    group_id_token: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    connector_standard: str | None = None
    """On a reservation of the whole charger: the connector standard the driver will use
    (``IEC_62196_T2``...), which 2.0.1 sends as ``connectorType`` so that the station keeps
    a connector of that type free; 1.6 has no such field."""
    connector_format: str | None = None
    """``CABLE`` or ``SOCKET`` of that connector (OCPP tells a Type 2 cable from a socket)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReservation(ChargerCommand):
    reservation_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteStart(ChargerCommand):
    id_token: str
    remote_start_id: int
    id_token_type: str = "ISO14443"
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteStop(ChargerCommand):
    transaction_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockConnector(ChargerCommand):
    evse_id: int | None
    connector_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerStatusNotification(ChargerCommand):
    """Ask the charger to report its connector status now (OCPP TriggerMessage
    StatusNotification): of one EVSE (2.0.1) or connector (1.6), or of all when both are None.
    The gateway sends it when it does not know a charger's statuses (a fresh process, or Redis
    came back empty), instead of waiting for the charger's next status change."""

    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDisplayMessage(ChargerCommand):
    """Show ``text`` on the charger's display (OCPP 2.0.1 SetDisplayMessage, DisplayMessageCtrlr)
    until ``ends_at`` (the charger drops it by itself then, should the clear be lost), on the
    display of ``evse_id`` when given. ``message_id`` is unique per charger: the same id
    replaces the message shown under it, and ``ClearDisplayMessage`` removes it. 1.6 has no
    display messages (NOT_SUPPORTED)."""

    message_id: int
    text: str
    ends_at: datetime | None = None
    evse_id: int | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearDisplayMessage(ChargerCommand):
    message_id: int


class ResetKind(StrEnum):
    """1.6 Reset ``Soft``/``Hard``. 2.0.1 has ``OnIdle`` (after the transactions end) and
    ``Immediate`` (stops them first): soft is sent as OnIdle, hard as Immediate."""

    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reset(ChargerCommand):
    kind: ResetKind
    evse_id: int | None = None
    """2.0.1 only: reset this EVSE alone (1.6 resets the whole charger: NOT_SUPPORTED)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeAvailability(ChargerCommand):
    """Take an EVSE/connector (or the whole charger, both None) out of service or back.
    1.6 names a connector (``connector_id``, 0 the charger); 2.0.1 an EVSE (``evse_id``,
    optionally with ``connector_id``)."""

    operative: bool
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerMessage(ChargerCommand):
    """Ask the charger to send ``message`` now, spelled as its OCPP version's
    MessageTrigger spells it (``StatusNotification``, ``MeterValues``, ``Heartbeat``...)."""

    message: str
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetConfiguration(ChargerCommand):
    """1.6: the values of ``keys`` (every key when empty). 2.0.1: NOT_SUPPORTED."""

    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeConfiguration(ChargerCommand):
    """1.6: set one configuration key. 2.0.1: NOT_SUPPORTED."""

    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VariableRef:
    """A 2.0.1 device-model variable: a component (with its instance, EVSE and connector)
    and a variable of it (with its instance and attribute); ``value`` only to write."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    attribute_type: str | None = None
    """Actual (the default), Target, MinSet, MaxSet."""
    value: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetVariables(ChargerCommand):
    """2.0.1: read ``variables``. 1.6: NOT_SUPPORTED."""

    variables: tuple[VariableRef, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVariables(ChargerCommand):
    """2.0.1: write ``variables`` (each with its ``value``). 1.6: NOT_SUPPORTED."""

    variables: tuple[VariableRef, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingResult:
    """One key (1.6) or variable (2.0.1) as the charger answered for it. ``status`` is the
    charger's word: 1.6 GetConfiguration ``Known``/``UnknownKey``; 2.0.1 the
    GetVariable/SetVariable attributeStatus (Accepted, Rejected, UnknownComponent,
    UnknownVariable, NotSupportedAttributeType, RebootRequired)."""

    key: str
    """1.6 key, or 2.0.1 variable name."""
    status: str
    value: str | None = None
    readonly: bool | None = None
    """1.6 only."""
    component: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    attribute_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReply:
    """A command's whole answer: the version-neutral outcome, the charger's own status
    (``Accepted``, ``Rejected``, ``Scheduled``, ``RebootRequired``, ``NotSupported``...; None
    when the charger gave none: offline, timeout, a CallError) and, for settings, what it said
    of each one."""

    outcome: CommandOutcome
    status: str | None = None
    settings: tuple[SettingResult, ...] = ()
    error: str | None = None
    """The CallError code the charger answered with, if it did."""


class ChargerCommands(Protocol):
    """Sends a command to a charger wherever it is connected and waits for its answer.

    Never raises for the charger's sake: an offline charger gives ``OFFLINE`` at once, a silent
    one ``TIMEOUT`` after ``timeout`` seconds.
    """

    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome: ...  # noqa: ASYNC109

    async def is_online(self, charge_point_id: str) -> bool: ...


class ChargerQueries(Protocol):
    """Like :class:`ChargerCommands`, with the charger's whole answer (for operators)."""

    async def ask(self, command: ChargerCommand, timeout: float) -> CommandReply: ...  # noqa: ASYNC109
