"""Version-neutral events that the OCPP adapter publishes and the rest of the gateway consumes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import structlog

from ocpi_gateway.domain.ids import OcppVersion

log = structlog.get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConnectorStatus(StrEnum):
    """Connector states of both OCPP versions, spelled as OCPP spells them."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ReservationEndReason(StrEnum):
    EXPIRED = "expired"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    charge_point_id: str
    timestamp: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerConnected(DomainEvent):
    ocpp_version: OcppVersion


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerDisconnected(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerBooted(DomainEvent):
    vendor: str
    model: str
    firmware_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorStatusChanged(DomainEvent):
    """``evse_id`` is None for OCPP 1.6; ``connector_id`` 0 with evse_id None is the charger."""

    evse_id: int | None
    connector_id: int
    status: ConnectorStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPresented(DomainEvent):
    """A driver presented a token at the charger (Authorize)."""

    id_token: str
    evse_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionStarted(DomainEvent):
    transaction_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    reservation_id: int | None = None
    meter_start_wh: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionEnded(DomainEvent):
    transaction_id: str
    meter_stop_wh: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterValueReported(DomainEvent):
    transaction_id: str | None
    evse_id: int | None
    connector_id: int | None
    energy_wh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingStateChanged(DomainEvent):
    """A transaction's EV started or stopped asking for energy (2.0.1 TransactionEvent
    ``chargingState``; a 1.6 charger says it with StatusNotification Charging / SuspendedEV).
    ``charging`` False: the EV is not requesting power (OCPI PARKING_TIME)."""

    transaction_id: str
    evse_id: int | None
    charging: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationEnded(DomainEvent):
    """The charger ended a reservation itself (2.0.1 ReservationStatusUpdate)."""

    reservation_id: int
    reason: ReservationEndReason


@dataclass(frozen=True, slots=True, kw_only=True)
class AvailabilityChanged(DomainEvent):
    """The charger accepted (or scheduled) a ChangeAvailability: the operator took its target
    out of service (``operative`` False) or put it back. The target as the command named it:
    1.6 ``connector_id`` (0: the charger), 2.0.1 ``evse_id`` (both None: the station)."""

    evse_id: int | None
    connector_id: int | None
    operative: bool
    scheduled: bool = False
    """The charger does it once its transaction ends (OCPP Scheduled)."""

    @property
    def whole_charger(self) -> bool:
        return self.evse_id is None and self.connector_id in (None, 0)


EventHandler = Callable[[DomainEvent], Awaitable[None]]


class EventPublisher(Protocol):
    async def publish(self, event: DomainEvent) -> None: ...


class EventBus:
    """In-process fan-out of domain events to subscribers.

    Handlers run in the publisher's task, one after another, so that events of one charger are
    seen in the order the charger sent them. A failing handler is logged and does not stop the
    others nor the publisher (an OCPP connection handler must never die of a subscriber's bug).
    """

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []

    def subscribe(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: DomainEvent) -> None:
        for handler in self._handlers:
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not ``event=``: structlog's first argument is named so (a TypeError here).
                log.exception("event_handler_failed", event_type=type(event).__name__,
                              charge_point_id=event.charge_point_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingTransitioned:
    """A future booking (OCPI 2.3.0 Bookings) changed: a new state, a request decided, or its
    binding to an EVSE. Not a charger event (no charger until it is bound): listeners are
    registered on the booking book (``reservation_policy.bookings``), not on the EventBus.
    What a session or a no-show CDR needs to attach to the booking is here; the whole record
    is read by ``booking_key`` when more is needed."""

    booking_key: str
    booking_id: str
    request_id: str
    country_code: str
    """The eMSP that booked."""
    party_id: str
    location_id: str
    previous: str | None
    """The state it left (None: just created); equal to ``state`` for a change, a request
    decided or a binding."""
    state: str
    reason: str
    start: datetime
    end: datetime
    authorization_reference: str
    token_uids: tuple[str, ...] = ()
    evse_uid: str | None = None
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None
    request_status: str | None = None
    """The status of the request this transition decided, when it decided one."""
    timestamp: datetime = field(default_factory=utc_now)


BookingListener = Callable[[BookingTransitioned], Awaitable[None]]
