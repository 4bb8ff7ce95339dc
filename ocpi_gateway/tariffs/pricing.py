"""The pricing engine: a tariff and what a session (and its reservation) measured → the CDR's
charging periods and total costs, following the OCPI 2.2.1 / 2.3.0 rules (mod_tariffs,
mod_cdrs "step_size").

The rules, as applied here:

- Per dimension the first element (in the tariff's order) with a price component of that
  dimension whose restrictions all match applies; restrictions are evaluated at the start of
  each period, with the local time of the location, the energy and duration of the phase so
  far and the period's current and power. No match: that dimension costs nothing then.
- Periods are cut where a restriction can change (a start/end time, local midnight, a
  duration or kWh threshold, the end of a booked slot), energy divided in proportion to time.
- ``step_size`` is applied once per phase and group (ENERGY; TIME and PARKING_TIME combined;
  reservation time; booking overtime): the total billed volume of the dimension of the last
  priced period is rounded up to the step of that period's component, the extra billed in it.
- FLAT is billed once per phase, from the first period in which a FLAT component applies.
- A reservation or booking is its own phase, priced only by elements with the matching
  restriction; an expired one by ``*_EXPIRES`` elements before the plain ones.
- Amounts are exact until published: each total is rounded to ``decimals`` (half up),
  before taxes and each tax rate apart; ``min_price`` / ``max_price`` bound total_cost.

Knows nothing of HTTP or of OCPI versions: the version packages serialize the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

from ocpi_gateway.tariffs.accounting import account
from ocpi_gateway.tariffs.models import BookingRestrictionType, ReservationRestrictionType, Tariff
from ocpi_gateway.tariffs.pieces import (
    OVERTIME,
    RESERVATION,
    RESERVATION_DIMS,
    SESSION,
    Out,
    choose,
    cut,
    merge,
    price_periods,
    price_periods_overtime,
)
from ocpi_gateway.tariffs.priced import (
    CdrDimension,
    CdrDimensionType,
    MeterPeriod,
    PricedPeriod,
    PricingError,
    PricingResult,
    ReservationOutcome,
    ReservationSpan,
)
from ocpi_gateway.tariffs.restrictions import Phase, PhaseKinds, compiled

__all__ = ["CdrDimension", "CdrDimensionType", "MeterPeriod", "PricedPeriod", "PricingError",
           "PricingResult", "ReservationOutcome", "ReservationSpan", "price_session"]

_ZERO = Decimal(0)


_PHASE_KINDS: dict[tuple[bool, ReservationOutcome | None], PhaseKinds] = {
    # (booking, outcome) → the restriction kinds whose elements price that phase, first first.
    (False, ReservationOutcome.USED): (ReservationRestrictionType.RESERVATION,),
    (False, ReservationOutcome.CANCELLED): (ReservationRestrictionType.RESERVATION,),
    (False, ReservationOutcome.EXPIRED): (ReservationRestrictionType.RESERVATION_EXPIRES,
                                          ReservationRestrictionType.RESERVATION),
    (True, ReservationOutcome.USED): (BookingRestrictionType.BOOKING,),
    (True, ReservationOutcome.EXPIRED): (BookingRestrictionType.BOOKING_EXPIRES,
                                         BookingRestrictionType.BOOKING),
    (True, ReservationOutcome.CANCELLED): (BookingRestrictionType.BOOKING_CANCELLATION_FEES,),
}


def price_session(tariff: Tariff, periods: Sequence[MeterPeriod], *, time_zone: str,
                  reservation: ReservationSpan | None = None,
                  decimals: int | None = 2) -> PricingResult:
    """The CDR figures of a session (``periods``, contiguous, in order; empty for a
    reservation that never became a session) and its reservation or booking."""
    _check(periods, reservation)
    tz = ZoneInfo(time_zone)
    plans = compiled(tariff)
    outs: list[Out] = []
    if reservation is not None:
        kinds = _PHASE_KINDS[(reservation.booking, reservation.outcome)]
        phase = Phase(RESERVATION, plans.plan(kinds), reservation.start, tz)
        span = MeterPeriod(reservation.start, reservation.end, charging=False)
        if reservation.end > reservation.start:
            for piece in cut(span, phase, _ZERO, None):
                piece.chosen = choose(phase, piece, RESERVATION_DIMS)
                merge(piece, outs)
    slot_end = reservation.slot_end if reservation is not None and reservation.booking \
        and reservation.outcome is ReservationOutcome.USED else None
    if periods:
        session = Phase(SESSION, plans.plan(_SESSION_KINDS), periods[0].start, tz)
        if slot_end is None:
            price_periods(periods, session, outs)
        else:
            price_periods_overtime(periods, session, Phase(
                OVERTIME, plans.plan(_OVERTIME_KINDS), slot_end, tz), slot_end, outs)
    return account(tariff, outs, reservation, decimals)


_SESSION_KINDS: PhaseKinds = (None,)
_OVERTIME_KINDS: PhaseKinds = (BookingRestrictionType.BOOKING_OVERTIME,)


def _check(periods: Sequence[MeterPeriod], reservation: ReservationSpan | None) -> None:
    if not periods and reservation is None:
        raise PricingError("nothing to price: no periods and no reservation")
    previous: MeterPeriod | None = None
    for period in periods:
        if period.start.tzinfo is None or period.end.tzinfo is None:
            raise PricingError("period times must be timezone-aware")
        if period.end <= period.start:
            raise PricingError(f"period starting {period.start.isoformat()} does not end after"
                               " it starts")
        if period.energy_kwh < 0:
            raise PricingError(f"period starting {period.start.isoformat()}: negative energy")
        if previous is not None and period.start != previous.end:
            raise PricingError(f"period starting {period.start.isoformat()} does not follow the"
                               " previous one")
        previous = period
    if reservation is not None:
        if reservation.start.tzinfo is None or reservation.end.tzinfo is None:
            raise PricingError("reservation times must be timezone-aware")
        if reservation.end < reservation.start:
            raise PricingError("the reservation ends before it starts")
