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


class ChargerCommands(Protocol):
    """Sends a command to a charger wherever it is connected and waits for its answer.

    Never raises for the charger's sake: an offline charger gives ``OFFLINE`` at once, a silent
    one ``TIMEOUT`` after ``timeout`` seconds.
    """

    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome: ...  # noqa: ASYNC109

    async def is_online(self, charge_point_id: str) -> bool: ...
