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

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from ocpi_gateway.money import Price
from ocpi_gateway.tariffs.ledger import Ledger, ceil_to, limit_total, round_money
from ocpi_gateway.tariffs.models import (
    BookingRestrictionType,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
)
from ocpi_gateway.tariffs.restrictions import (
    US_PER_S,
    At,
    Element,
    Moment,
    Phase,
    PhaseKinds,
    compiled,
)

_US = timedelta(microseconds=1)
_US_PER_HOUR = Decimal(3_600_000_000)
_ZERO = Decimal(0)
_WH_PER_KWH = Decimal(1000)


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
_ENERGY_G, _TIME_G = "energy", "time"
_D = TariffDimensionType


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


# ---- pieces: periods cut at the points where a restriction may change -----------------------

@dataclass(slots=True)
class _Piece:
    start: datetime
    end: datetime
    duration_us: int
    energy: Decimal
    charging: bool
    current: Decimal | None
    power: Decimal | None
    kwh_before: Decimal
    phase: Phase
    seconds_of_day: int
    weekday: int
    local_date: date
    duration_before_us: int
    overtime: bool = False
    chosen: tuple[tuple[TariffDimensionType, Element], ...] = ()
    overtime_chosen: tuple[tuple[TariffDimensionType, Element], ...] = ()


def _at(at: datetime, tz: ZoneInfo, kwh: Decimal, duration_us: int,
        current: Decimal | None, power: Decimal | None) -> At:
    local = at.astimezone(tz)
    return At(local.hour * 3600 + local.minute * 60 + local.second, local.weekday(),
                   local.date(), kwh, duration_us, current, power)


def _cut(period: MeterPeriod, phase: Phase, kwh_before: Decimal,
         extra_cut: datetime | None, also: Phase | None = None) -> list[_Piece]:
    """``period`` in pieces, cut where a restriction of ``phase`` (or of ``also``, a booking's
    overtime priced over the same time) may change, and at ``extra_cut``."""
    pieces: list[_Piece] = []
    start, energy, period_end = period.start, period.energy_kwh, period.end
    current, power, tz = period.current_a, period.power_kw, phase.tz
    while True:
        end = period_end
        duration_before = (start - phase.start) // _US
        cut_energy: Decimal | None = None
        clock = phase.next_clock_cut(start)
        if clock is not None and start < clock < end:
            end = clock
        if extra_cut is not None and start < extra_cut < end:
            end = extra_cut
        for cutting in (phase, also) if also is not None else (phase,):
            if cutting is also:
                clock = cutting.next_clock_cut(start)
                if clock is not None and start < clock < end:
                    end = clock
            since = (start - cutting.start) // _US
            for d in cutting.durations:
                if d > since:
                    at = cutting.start + d * _US
                    if start < at < end:
                        end = at
                    break
        if energy and phase.kwh:
            for k in phase.kwh:
                if kwh_before < k < kwh_before + energy:
                    at = start + int((period_end - start) // _US * (k - kwh_before) / energy) * _US
                    if start < at < end:
                        end, cut_energy = at, k - kwh_before
                    break
        duration = (end - start) // _US
        if end == period_end:
            part = energy
        elif cut_energy is not None:
            part = cut_energy
        else:
            part = energy * duration / ((period_end - start) // _US)
        local = start.astimezone(tz)
        pieces.append(_Piece(start, end, duration, part, period.charging, current, power,
                             kwh_before, phase,
                             local.hour * 3600 + local.minute * 60 + local.second,
                             local.weekday(), local.date(), duration_before))
        if end == period_end:
            return pieces
        start, energy, kwh_before = end, energy - part, kwh_before + part


def _choose(phase: Phase, moment: Moment, dimensions: Sequence[TariffDimensionType]
            ) -> tuple[tuple[TariffDimensionType, Element], ...]:
    matched: dict[int, bool] = {}
    chosen: list[tuple[TariffDimensionType, Element]] = []
    by_dimension = phase.by_dimension
    for dimension in dimensions:
        for element in by_dimension[dimension]:
            restrictions = element.restrictions
            if restrictions is None:
                chosen.append((dimension, element))
                break
            ok = matched.get(element.index)
            if ok is None:
                ok = matched[element.index] = restrictions.matches(moment)
            if ok:
                chosen.append((dimension, element))
                break
    return tuple(chosen)


# ---- the engine ----------------------------------------------------------------------------

_Dims = tuple[TariffDimensionType, ...]
_RESERVATION_DIMS: _Dims = (_D.TIME, _D.FLAT)
_CHARGING_DIMS: _Dims = (_D.ENERGY, _D.TIME, _D.FLAT)
_PARKING_DIMS: _Dims = (_D.PARKING_TIME, _D.FLAT)
_PARKING_ENERGY_DIMS: _Dims = (_D.ENERGY, _D.PARKING_TIME, _D.FLAT)


def price_session(tariff: Tariff, periods: Sequence[MeterPeriod], *, time_zone: str,
                  reservation: ReservationSpan | None = None,
                  decimals: int | None = 2) -> PricingResult:
    """The CDR figures of a session (``periods``, contiguous, in order; empty for a
    reservation that never became a session) and its reservation or booking."""
    _check(periods, reservation)
    tz = ZoneInfo(time_zone)
    plans = compiled(tariff)
    outs: list[_Out] = []
    if reservation is not None:
        kinds = _PHASE_KINDS[(reservation.booking, reservation.outcome)]
        phase = Phase(_RESERVATION, plans.plan(kinds), reservation.start, tz)
        span = MeterPeriod(reservation.start, reservation.end, charging=False)
        if reservation.end > reservation.start:
            for piece in _cut(span, phase, _ZERO, None):
                piece.chosen = _choose(phase, piece, _RESERVATION_DIMS)
                _merge(piece, outs)
    slot_end = reservation.slot_end if reservation is not None and reservation.booking \
        and reservation.outcome is ReservationOutcome.USED else None
    if periods:
        session = Phase(_SESSION, plans.plan(_SESSION_KINDS), periods[0].start, tz)
        if slot_end is None:
            _price_periods(periods, session, outs)
        else:
            _price_periods_overtime(periods, session, Phase(
                _OVERTIME, plans.plan(_OVERTIME_KINDS), slot_end, tz), slot_end, outs)
    return _account(tariff, outs, reservation, decimals)


_SESSION_KINDS: PhaseKinds = (None,)
_OVERTIME_KINDS: PhaseKinds = (BookingRestrictionType.BOOKING_OVERTIME,)


def _dims_of(charging: bool, energy: Decimal) -> _Dims:
    if charging:
        return _CHARGING_DIMS
    return _PARKING_ENERGY_DIMS if energy else _PARKING_DIMS


def _price_periods(periods: Sequence[MeterPeriod], session: Phase, outs: list[_Out]) -> None:
    """The session's meter periods, priced. A period that no cut point divides and whose
    start looks to every restriction as the start of the last piece priced did (same
    time-of-day band and local date, same kWh and duration thresholds passed, same current,
    power and charging state) is priced as that piece was: it joins the last output period
    as ``_merge`` would, without being cut and matched again (most of a session's periods,
    unless current or power are measured and vary)."""
    kwh = _ZERO
    last: _Piece | None = None
    last_signature: tuple[object, ...] | None = None
    for period in periods:
        start, end, energy = period.start, period.end, period.energy_kwh
        if last is not None and period.charging == last.charging \
                and bool(energy) == bool(last.energy) and period.current_a == last.current \
                and period.power_kw == last.power and outs[-1].end == start \
                and _whole(period, session, kwh):
            if last_signature is None:
                last_signature = _signature(session, last.seconds_of_day, last.local_date,
                                            last.kwh_before, last.duration_before_us)
            local = start.astimezone(session.tz)
            if _signature(session, local.hour * 3600 + local.minute * 60 + local.second,
                          local.date(), kwh, (start - session.start) // _US) \
                    == last_signature:
                out = outs[-1]
                out.end = end
                out.energy += energy
                out.duration_us += (end - start) // _US
                out.current = _widen(out.current, period.current_a)
                out.power = _widen(out.power, period.power_kw)
                kwh += energy
                continue
        for piece in _cut(period, session, kwh, None):
            piece.chosen = _choose(session, piece, _dims_of(piece.charging, piece.energy))
            _merge(piece, outs)
            last, last_signature = piece, None
        kwh += energy


def _signature(phase: Phase, seconds_of_day: int, local_date: date, kwh_before: Decimal,
               duration_before_us: int) -> tuple[object, ...]:
    """What the restrictions of ``phase`` can tell apart of a moment: which time-of-day band
    and local date, how many kWh and duration thresholds passed."""
    clock, kwh, durations = phase.clock, phase.kwh, phase.durations
    return (bisect_right(clock, seconds_of_day) if clock else 0,
            local_date if clock else None,
            bisect_right(kwh, kwh_before) if kwh else 0,
            bisect_right(durations, duration_before_us) if durations else 0)


def _whole(period: MeterPeriod, phase: Phase, kwh_before: Decimal) -> bool:
    """No point where a restriction of ``phase`` may change lies inside ``period``."""
    start, end = period.start, period.end
    clock = phase.next_clock_cut(start)
    if clock is not None and start < clock < end:
        return False
    if phase.durations:
        since, length = (start - phase.start) // _US, (end - start) // _US
        if any(since < d < since + length for d in phase.durations):
            return False
    energy = period.energy_kwh
    return not (energy and any(kwh_before < k < kwh_before + energy for k in phase.kwh))


def _price_periods_overtime(periods: Sequence[MeterPeriod], session: Phase, overtime: Phase,
                            slot_end: datetime, outs: list[_Out]) -> None:
    """The session's meter periods of a booking, past the end of its slot priced by the
    BOOKING_OVERTIME elements too."""
    tz = session.tz
    kwh = _ZERO
    for period in periods:
        for piece in _cut(period, session, kwh, slot_end, overtime):
            piece.chosen = _choose(session, piece, _dims_of(piece.charging, piece.energy))
            if piece.start >= slot_end:
                piece.overtime = True
                moment = _at(piece.start, tz, piece.kwh_before,
                             (piece.start - slot_end) // _US, piece.current, piece.power)
                piece.overtime_chosen = _choose(overtime, moment, _RESERVATION_DIMS)
            _merge(piece, outs)
        kwh += period.energy_kwh


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


@dataclass(slots=True)
class _Out:
    """A CDR charging period being built: consecutive pieces priced alike are one (so it is
    priced once, with the same components for all of its volume)."""

    start: datetime
    end: datetime
    key: tuple[object, ...]
    phase: str
    chosen: tuple[tuple[TariffDimensionType, Element], ...]
    overtime_chosen: tuple[tuple[TariffDimensionType, Element], ...]
    charging: bool
    overtime: bool
    energy: Decimal
    duration_us: int
    current: tuple[Decimal, Decimal] | None
    power: tuple[Decimal, Decimal] | None
    cost: Decimal = _ZERO


_CATEGORY = {_D.ENERGY: "energy", _D.TIME: "time", _D.PARKING_TIME: "parking"}


def _account(tariff: Tariff, outs: list[_Out], reservation: ReservationSpan | None,
             decimals: int | None) -> PricingResult:
    ledger = Ledger(tariff.tax_included)
    # step_size group → (dimension, output period, component) of its last priced period
    last: dict[str, tuple[TariffDimensionType, _Out, PriceComponent]] = {}
    totals: dict[tuple[str, TariffDimensionType], Decimal] = {}
    flat_done: set[str] = set()
    for out in outs:
        reserved = out.phase == _RESERVATION
        lines = [(out.phase, _RESERVATION if reserved else None, dimension, element)
                 for dimension, element in out.chosen]
        lines += [(_OVERTIME, _OVERTIME, dimension, element)
                  for dimension, element in out.overtime_chosen]
        for phase, group, dimension, element in lines:
            component = element.components[dimension]
            if dimension is _D.FLAT:
                if phase not in flat_done:
                    flat_done.add(phase)
                    out.cost += ledger.add("fixed" if phase == _SESSION else "reservation",
                                           component, Decimal(1))
                continue
            if dimension is _D.ENERGY:
                group, volume, per_unit = _ENERGY_G, out.energy * _WH_PER_KWH, _WH_PER_KWH
            else:
                group = group or _TIME_G
                volume, per_unit = Decimal(out.duration_us), _US_PER_HOUR
            category = "reservation" if group in (_RESERVATION, _OVERTIME) \
                else _CATEGORY[dimension]
            out.cost += ledger.add(category, component, volume, per_unit)
            if volume:
                totals[(group, dimension)] = totals.get((group, dimension), _ZERO) + volume
                last[group] = (dimension, out, component)
    for group, (dimension, out, component) in last.items():
        billed = totals[(group, dimension)]
        if dimension is _D.ENERGY:
            extra, per_unit = ceil_to(billed, component.step_size) - billed, _WH_PER_KWH
        else:
            extra = ceil_to(billed, component.step_size * US_PER_S) - billed
            per_unit = _US_PER_HOUR
        if extra:
            category = ("reservation" if group in (_RESERVATION, _OVERTIME)
                        else _CATEGORY[dimension])
            out.cost += ledger.add(category, component, extra, per_unit)
    expired = reservation is not None and reservation.outcome is ReservationOutcome.EXPIRED
    return _result(tariff, outs, ledger, decimals, expired)


def _merge(piece: _Piece, outs: list[_Out]) -> None:
    """Adds ``piece`` to the last output period when nothing that prices it changed."""
    chosen, overtime_chosen = piece.chosen, piece.overtime_chosen
    key = (piece.phase.name, piece.charging, piece.overtime, chosen, overtime_chosen)
    current, power = piece.current, piece.power
    if outs:
        out = outs[-1]
        if out.key == key and out.end == piece.start:
            out.end = piece.end
            out.energy += piece.energy
            out.duration_us += piece.duration_us
            out.current = _widen(out.current, current)
            out.power = _widen(out.power, power)
            return
    outs.append(_Out(piece.start, piece.end, key, piece.phase.name, chosen, overtime_chosen,
                     piece.charging, piece.overtime, piece.energy, piece.duration_us,
                     None if current is None else (current, current),
                     None if power is None else (power, power)))


def _widen(band: tuple[Decimal, Decimal] | None, value: Decimal | None
           ) -> tuple[Decimal, Decimal] | None:
    if value is None:
        return band
    if band is None:
        return (value, value)
    low, high = band
    return (value if value < low else low, value if value > high else high)


def _dimensions(out: _Out, expired: bool) -> tuple[CdrDimension, ...]:
    hours = Decimal(out.duration_us) / _US_PER_HOUR
    if out.phase == _RESERVATION:
        kind = CdrDimensionType.RESERVATION_EXPIRES if expired \
            else CdrDimensionType.RESERVATION_TIME
        return (CdrDimension(kind, hours),)
    dims: list[CdrDimension] = []
    if out.charging or out.energy:
        dims.append(CdrDimension(CdrDimensionType.ENERGY, out.energy))
    dims.append(CdrDimension(CdrDimensionType.TIME if out.charging
                             else CdrDimensionType.PARKING_TIME, hours))
    if out.overtime:
        dims.append(CdrDimension(CdrDimensionType.RESERVATION_OVERTIME, hours))
    if out.current is not None:
        dims += (CdrDimension(CdrDimensionType.MIN_CURRENT, out.current[0]),
                 CdrDimension(CdrDimensionType.MAX_CURRENT, out.current[1]))
    if out.power is not None:
        dims += (CdrDimension(CdrDimensionType.MIN_POWER, out.power[0]),
                 CdrDimension(CdrDimensionType.MAX_POWER, out.power[1]))
    return tuple(dims)


def _result(tariff: Tariff, outs: list[_Out], ledger: Ledger, decimals: int | None,
            expired: bool) -> PricingResult:
    session = [o for o in outs if o.phase != _RESERVATION]
    all_us = sum(o.duration_us for o in (session or outs))
    parking_us = sum(o.duration_us for o in session if not o.charging)
    total = ledger.price(("fixed", "energy", "time", "parking", "reservation"), decimals) \
        or Price(before_taxes=round_money(_ZERO, decimals), taxes=[])
    total, limited_by = limit_total(total, tariff, decimals)
    periods = tuple(PricedPeriod(o.start, _dimensions(o, expired), tariff.id, o.cost)
                    for o in outs)
    return PricingResult(
        currency=tariff.currency, periods=periods, total_cost=total,
        total_fixed_cost=ledger.price(("fixed",), decimals),
        total_energy=sum((o.energy for o in session), _ZERO),
        total_energy_cost=ledger.price(("energy",), decimals),
        total_time=Decimal(all_us) / _US_PER_HOUR,
        total_time_cost=ledger.price(("time",), decimals),
        total_parking_time=Decimal(parking_us) / _US_PER_HOUR,
        total_parking_cost=ledger.price(("parking",), decimals),
        total_reservation_cost=ledger.price(("reservation",), decimals),
        limited_by=limited_by)
