"""What the pricing engine takes (a session's meter periods, its reservation or booking) and
gives (the CDR's charging periods and totals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ocpi_gateway.money import Price

_ZERO = Decimal(0)


class CdrDimensionType(StrEnum):
    """The CDR dimensions the engine reports; ``RESERVATION_EXPIRES`` and
    ``RESERVATION_OVERTIME`` are 2.3.0's (2.2.1 reports both as RESERVATION_TIME)."""

    ENERGY = "ENERGY"
    TIME = "TIME"
    PARKING_TIME = "PARKING_TIME"
    RESERVATION_TIME = "RESERVATION_TIME"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"
    RESERVATION_OVERTIME = "RESERVATION_OVERTIME"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"


class ReservationOutcome(StrEnum):
    USED = "USED"
    """Followed by a charging session on it."""
    EXPIRED = "EXPIRED"
    """Not used before its end (a no-show)."""
    CANCELLED = "CANCELLED"
    """Cancelled by the driver's eMSP (the caller decides whether it is charged at all)."""


@dataclass(frozen=True, slots=True)
class MeterPeriod:
    """What the charger measured between two meter values."""

    start: datetime
    end: datetime
    energy_kwh: Decimal = _ZERO
    charging: bool = True
    """False: the EV was not requesting power (OCPI PARKING_TIME)."""
    current_a: Decimal | None = None
    """Sum over the phases; None: not measured (then no current restriction matches)."""
    power_kw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ReservationSpan:
    """A reservation (ReserveNow) or a 2.3.0 booking, from when it was made until it was used
    (the session started), expired or was cancelled."""

    start: datetime
    end: datetime
    outcome: ReservationOutcome
    booking: bool = False
    slot_end: datetime | None = None
    """A booking's end of the booked slot: session time past it is BOOKING_OVERTIME."""


@dataclass(frozen=True, slots=True)
class CdrDimension:
    type: CdrDimensionType
    volume: Decimal
    """kWh, hours, A or kW, as measured (step_size changes what is billed, not this)."""


@dataclass(frozen=True, slots=True)
class PricedPeriod:
    start: datetime
    dimensions: tuple[CdrDimension, ...]
    tariff_id: str
    cost: Decimal
    """Exact cost before taxes of this period, its step_size extra and FLAT fee included."""


@dataclass(frozen=True, slots=True)
class PricingResult:
    currency: str
    periods: tuple[PricedPeriod, ...]
    total_cost: Price
    total_fixed_cost: Price | None
    total_energy: Decimal
    total_energy_cost: Price | None
    total_time: Decimal
    """Hours of the session (charging and not charging); a reservation alone: its hours."""
    total_time_cost: Price | None
    total_parking_time: Decimal
    total_parking_cost: Price | None
    total_reservation_cost: Price | None
    limited_by: str | None = None
    """``min_price`` or ``max_price`` when one changed total_cost."""


class PricingError(ValueError):
    """The periods given are not a session (unordered, overlapping, negative...)."""


_SESSION, _RESERVATION, _OVERTIME = "session", "reservation", "overtime"
