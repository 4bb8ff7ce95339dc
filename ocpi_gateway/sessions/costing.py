"""What a session measured, in the pricing engine's terms, and the engine's answer: meter
readings → meter periods, the reservation or booking it began with → the engine's span,
and the charging periods and totals a Session (so far) or a CDR (at its end) shows.

A session without a tariff is not priced, but its periods and volumes are still reported
(energy, time, parking, reservation time) with a cost of zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ocpi_gateway.money import Price
from ocpi_gateway.sessions.models import (
    ChargingState,
    Hold,
    HoldEnd,
    HoldKind,
    MeterReading,
    Session,
)
from ocpi_gateway.tariffs.pricing import (
    CdrDimension,
    CdrDimensionType,
    MeterPeriod,
    PricedPeriod,
    PricingResult,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)

_ZERO = Decimal(0)
_WH_PER_KWH = Decimal(1000)
_SECONDS_PER_HOUR = Decimal(3600)

_OUTCOMES = {
    HoldEnd.USED: ReservationOutcome.USED,
    HoldEnd.EXPIRED: ReservationOutcome.EXPIRED,
    HoldEnd.CANCELLED: ReservationOutcome.CANCELLED,
}


def meter_periods(readings: Sequence[MeterReading],
                  states: Sequence[ChargingState] = ()) -> list[MeterPeriod]:
    """One period between each two readings: the energy the register advanced (a register
    that went back, a reset or a replaced meter, counts nothing), charging or not as the
    earlier reading says. Readings at or before the previous one are left out.

    With ``states`` (changes of whether the EV asks for energy), a period is cut where one
    changes, each part charging or not as the state then says, and the energy goes to the
    charging parts, in proportion to their time (all parts when none is charging)."""
    periods: list[MeterPeriod] = []
    previous: MeterReading | None = None
    for reading in readings:
        if previous is not None:
            if reading.at <= previous.at:
                continue
            energy = max(reading.wh - previous.wh, _ZERO) / _WH_PER_KWH
            if states:
                periods += _split(previous.at, reading.at, energy, states, previous.charging)
            else:
                periods.append(MeterPeriod(previous.at, reading.at, energy,
                                           previous.charging))
        previous = reading
    return periods


def _split(start: datetime, end: datetime, energy: Decimal,
           states: Sequence[ChargingState], charging: bool) -> list[MeterPeriod]:
    """[start, end) cut at the state changes within it."""
    parts: list[tuple[datetime, datetime, bool]] = []
    at, now = start, charging
    for state in states:
        if state.at <= start:
            now = state.charging
        elif state.at < end:
            if state.charging != now and state.at > at:
                parts.append((at, state.at, now))
                at = state.at
            now = state.charging
    parts.append((at, end, now))
    weighted = [p for p in parts if p[2]] or parts
    total = sum(((e - s) for s, e, _ in weighted), timedelta(0))
    out = []
    for s, e, c in parts:
        share = energy * _us(e - s) / _us(total) if (s, e, c) in weighted else _ZERO
        out.append(MeterPeriod(s, e, share, c))
    return out


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def hold_span(hold: Hold, *, until: datetime, session_start: datetime | None
              ) -> ReservationSpan | None:
    """The engine's reservation span of ``hold``, or None when it is not priced (the CPO
    cancelled it). A hold still running is priced as used so far (the plain
    RESERVATION / BOOKING elements), up to ``until``; it never runs into the session."""
    if hold.ended is HoldEnd.CPO_CANCELLED:
        return None
    end = hold.end or until
    if session_start is not None and end > session_start:
        end = session_start  # the charger's clock may run ahead of ours
    end = max(end, hold.start)
    outcome = _OUTCOMES[hold.ended] if hold.ended is not None else ReservationOutcome.USED
    return ReservationSpan(hold.start, end, outcome, booking=hold.kind is HoldKind.BOOKING,
                           slot_end=hold.slot_end)


def price(session: Session, *, until: datetime) -> PricingResult:
    """The figures of ``session`` up to ``until`` (its end once it ended): priced by its
    tariff when it has one, else the volumes at no cost."""
    periods = meter_periods(session.readings, session.states)
    start = periods[0].start if periods else None
    span = None if session.hold is None else hold_span(session.hold, until=until,
                                                       session_start=start)
    if session.tariff is not None and (periods or span is not None):
        return price_session(session.tariff, periods, time_zone=session.time_zone,
                             reservation=span)
    return unpriced(periods, span, session.currency)


def unpriced(periods: Sequence[MeterPeriod], span: ReservationSpan | None,
             currency: str) -> PricingResult:
    """The periods and volumes of a session no tariff prices, at no cost."""
    out: list[PricedPeriod] = []
    if span is not None:
        hours = _hours(span.start, span.end)
        kind = CdrDimensionType.RESERVATION_EXPIRES \
            if span.outcome is ReservationOutcome.EXPIRED else CdrDimensionType.RESERVATION_TIME
        out.append(PricedPeriod(span.start, (CdrDimension(kind, hours),), "", _ZERO))
    energy = parking = total = _ZERO
    for period in periods:
        hours = _hours(period.start, period.end)
        total += hours
        energy += period.energy_kwh
        dims = [CdrDimension(CdrDimensionType.ENERGY, period.energy_kwh)]
        if period.charging:
            dims.append(CdrDimension(CdrDimensionType.TIME, hours))
        else:
            parking += hours
            dims.append(CdrDimension(CdrDimensionType.PARKING_TIME, hours))
        out.append(PricedPeriod(period.start, tuple(dims), "", _ZERO))
    if not periods and span is not None:
        total = _hours(span.start, span.end)
    free = Price(before_taxes=Decimal("0.00"), taxes=[])
    return PricingResult(currency=currency, periods=tuple(out), total_cost=free,
                         total_fixed_cost=None, total_energy=energy, total_energy_cost=None,
                         total_time=total, total_time_cost=None, total_parking_time=parking,
                         total_parking_cost=None, total_reservation_cost=None)


def closed_periods(session: Session, result: PricingResult) -> tuple[PricedPeriod, ...]:
    """The charging periods a Session shows: while it runs, all but the last (which still
    grows with every reading), so that what was sent stays true and a PATCH only adds."""
    if session.final:
        return result.periods
    return result.periods[:-1]


def kwh(readings: Sequence[MeterReading]) -> Decimal:
    return sum((p.energy_kwh for p in meter_periods(readings)), _ZERO)


def _hours(start: datetime, end: datetime) -> Decimal:
    delta = end - start
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 10**6
    return seconds / _SECONDS_PER_HOUR
