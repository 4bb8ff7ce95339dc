"""The pricing engine's periods: a session's meter periods cut where a restriction may
change, each piece matched to the elements that price it, and consecutive pieces priced alike
made one output period (``Out``); a period nothing divides that starts where every restriction
answers as for the last piece joins it without being cut and matched again."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ocpi_gateway.tariffs.models import TariffDimensionType
from ocpi_gateway.tariffs.priced import MeterPeriod
from ocpi_gateway.tariffs.restrictions import At, Element, Moment, Phase

US = timedelta(microseconds=1)
_ZERO = Decimal(0)
_D = TariffDimensionType

SESSION, RESERVATION, OVERTIME = "session", "reservation", "overtime"
"""The phases' names."""


@dataclass(slots=True)
class Piece:
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


def moment_at(at: datetime, tz: ZoneInfo, kwh: Decimal, duration_us: int,
              current: Decimal | None, power: Decimal | None) -> At:
    local = at.astimezone(tz)
    return At(local.hour * 3600 + local.minute * 60 + local.second, local.weekday(),
                   local.date(), kwh, duration_us, current, power)


def cut(period: MeterPeriod, phase: Phase, kwh_before: Decimal,
        extra_cut: datetime | None, also: Phase | None = None) -> list[Piece]:
    """``period`` in pieces, cut where a restriction of ``phase`` (or of ``also``, a booking's
    overtime priced over the same time) may change, and at ``extra_cut``."""
    pieces: list[Piece] = []
    start, energy, period_end = period.start, period.energy_kwh, period.end
    current, power, tz = period.current_a, period.power_kw, phase.tz
    while True:
        end = period_end
        duration_before = (start - phase.start) // US
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
            since = (start - cutting.start) // US
            # The first threshold ahead is the earliest cut: later ones cannot come sooner.
            ahead = next((d for d in cutting.durations if d > since), None)
            if ahead is not None:
                at = cutting.start + ahead * US
                if start < at < end:
                    end = at
        crossed = next((k for k in phase.kwh if kwh_before < k < kwh_before + energy), None) \
            if energy else None
        if crossed is not None:
            # At least a microsecond in: a threshold reached sooner is still a cut.
            at = start + max(1, int((period_end - start) // US * (crossed - kwh_before)
                                    / energy)) * US
            if start < at < end:
                end, cut_energy = at, crossed - kwh_before
        duration = (end - start) // US
        if end == period_end:
            part = energy
        elif cut_energy is not None:
            part = cut_energy
        else:
            part = energy * duration / ((period_end - start) // US)
        local = start.astimezone(tz)
        pieces.append(Piece(start, end, duration, part, period.charging, current, power,
                             kwh_before, phase,
                             local.hour * 3600 + local.minute * 60 + local.second,
                             local.weekday(), local.date(), duration_before))
        if end == period_end:
            return pieces
        start, energy, kwh_before = end, energy - part, kwh_before + part


def choose(phase: Phase, moment: Moment, dimensions: Sequence[TariffDimensionType]
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


Dims = tuple[TariffDimensionType, ...]
RESERVATION_DIMS: Dims = (_D.TIME, _D.FLAT)
CHARGING_DIMS: Dims = (_D.ENERGY, _D.TIME, _D.FLAT)
PARKING_DIMS: Dims = (_D.PARKING_TIME, _D.FLAT)
PARKING_ENERGY_DIMS: Dims = (_D.ENERGY, _D.PARKING_TIME, _D.FLAT)


def dims_of(charging: bool, energy: Decimal) -> Dims:
    if charging:
        return CHARGING_DIMS
    return PARKING_ENERGY_DIMS if energy else PARKING_DIMS


def price_periods(periods: Sequence[MeterPeriod], session: Phase, outs: list[Out]) -> None:
    """The session's meter periods, priced. A period that no cut point divides and whose
    start looks to every restriction as the start of the last piece priced did (same
    time-of-day band and local date, same kWh and duration thresholds passed, same current,
    power and charging state) is priced as that piece was: it joins the last output period
    as ``merge`` would, without being cut and matched again (most of a session's periods,
    unless current or power are measured and vary)."""
    kwh = _ZERO
    last: Piece | None = None
    last_signature: tuple[object, ...] | None = None
    for period in periods:
        start, end, energy = period.start, period.end, period.energy_kwh
        if last is not None and period.charging == last.charging \
                and bool(energy) == bool(last.energy) and period.current_a == last.current \
                and period.power_kw == last.power and whole(period, session, kwh):
            if last_signature is None:
                last_signature = signature(session, last.seconds_of_day, last.local_date,
                                            last.kwh_before, last.duration_before_us)
            local = start.astimezone(session.tz)
            if signature(session, local.hour * 3600 + local.minute * 60 + local.second,
                          local.date(), kwh, (start - session.start) // US) \
                    == last_signature:
                # The periods follow each other (checked): the last output ends at ``start``.
                # Its current and power are the last piece's: in the output's band already.
                out = outs[-1]
                out.end = end
                out.energy += energy
                out.duration_us += (end - start) // US
                kwh += energy
                continue
        for piece in cut(period, session, kwh, None):
            piece.chosen = choose(session, piece, dims_of(piece.charging, piece.energy))
            merge(piece, outs)
            last, last_signature = piece, None
        kwh += energy


def signature(phase: Phase, seconds_of_day: int, local_date: date, kwh_before: Decimal,
              duration_before_us: int) -> tuple[object, ...]:
    """What the restrictions of ``phase`` can tell apart of a moment: which time-of-day band
    and local date, how many kWh and duration thresholds passed."""
    clock, kwh, durations = phase.clock, phase.kwh, phase.durations
    return (bisect_right(clock, seconds_of_day) if clock else 0,
            local_date if clock else None,
            bisect_right(kwh, kwh_before) if kwh else 0,
            bisect_right(durations, duration_before_us) if durations else 0)


def whole(period: MeterPeriod, phase: Phase, kwh_before: Decimal) -> bool:
    """No point where a restriction of ``phase`` may change lies inside ``period``."""
    start, end = period.start, period.end
    clock = phase.next_clock_cut(start)
    if clock is not None and start < clock < end:
        return False
    if phase.durations:
        since, length = (start - phase.start) // US, (end - start) // US
        if any(since < d < since + length for d in phase.durations):
            return False
    energy = period.energy_kwh
    return not (energy and any(kwh_before < k < kwh_before + energy for k in phase.kwh))


def price_periods_overtime(periods: Sequence[MeterPeriod], session: Phase, overtime: Phase,
                           slot_end: datetime, outs: list[Out]) -> None:
    """The session's meter periods of a booking, past the end of its slot priced by the
    BOOKING_OVERTIME elements too."""
    tz = session.tz
    kwh = _ZERO
    for period in periods:
        for piece in cut(period, session, kwh, slot_end, overtime):
            piece.chosen = choose(session, piece, dims_of(piece.charging, piece.energy))
            if piece.start >= slot_end:
                piece.overtime = True
                moment = moment_at(piece.start, tz, piece.kwh_before,
                                   (piece.start - slot_end) // US, piece.current, piece.power)
                piece.overtime_chosen = choose(overtime, moment, RESERVATION_DIMS)
            merge(piece, outs)
        kwh += period.energy_kwh


@dataclass(slots=True)
class Out:
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




def merge(piece: Piece, outs: list[Out]) -> None:
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
            out.current = widen(out.current, current)
            out.power = widen(out.power, power)
            return
    outs.append(Out(piece.start, piece.end, key, piece.phase.name, chosen, overtime_chosen,
                     piece.charging, piece.overtime, piece.energy, piece.duration_us,
                     None if current is None else (current, current),
                     None if power is None else (power, power)))


def widen(band: tuple[Decimal, Decimal] | None, value: Decimal | None
          ) -> tuple[Decimal, Decimal] | None:
    if value is None:
        return band
    if band is None:
        return (value, value)
    low, high = band
    return (value if value < low else low, value if value > high else high)
