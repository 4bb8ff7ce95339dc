"""A tariff's elements prepared for the pricing engine: restrictions evaluated fast at a
moment (``Restrictions.matches``), and per phase the points in time where one may start or
stop to apply (``Phase``: time-of-day and day boundaries in the location's time zone,
duration and kWh thresholds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from ocpi_gateway.tariffs.models import (
    WEEKDAYS,
    BookingRestrictionType,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffRestrictions,
)

US_PER_S = 1_000_000




def _seconds_of_day(hhmm: str) -> int:
    return int(hhmm[:2]) * 3600 + int(hhmm[3:5]) * 60


class Restrictions:
    """TariffRestrictions prepared for fast evaluation (``None``: no restriction)."""

    __slots__ = (
        "days",
        "end_date",
        "end_s",
        "max_current",
        "max_duration",
        "max_kwh",
        "max_power",
        "min_current",
        "min_duration",
        "min_kwh",
        "min_power",
        "start_date",
        "start_s",
    )

    def __init__(self, r: TariffRestrictions) -> None:
        self.start_s = None if r.start_time is None else _seconds_of_day(r.start_time)
        self.end_s = None if r.end_time is None else _seconds_of_day(r.end_time)
        self.start_date, self.end_date = r.start_date, r.end_date
        self.days = frozenset(WEEKDAYS.index(d) for d in r.day_of_week) or None
        self.min_kwh, self.max_kwh = r.min_kwh, r.max_kwh
        self.min_current, self.max_current = r.min_current, r.max_current
        self.min_power, self.max_power = r.min_power, r.max_power
        self.min_duration, self.max_duration = r.min_duration, r.max_duration

    def matches(self, m: Moment) -> bool:
        if self.start_s is not None or self.end_s is not None:
            if not in_time_window(m.seconds_of_day, self.start_s, self.end_s):
                return False
        if self.days is not None and m.weekday not in self.days:
            return False
        if self.start_date is not None and m.local_date < self.start_date:
            return False
        if self.end_date is not None and m.local_date >= self.end_date:
            return False
        if self.min_kwh is not None and m.kwh_before < self.min_kwh:
            return False
        if self.max_kwh is not None and m.kwh_before >= self.max_kwh:
            return False
        if self.min_duration is not None and \
                m.duration_before_us < self.min_duration * US_PER_S:
            return False
        if self.max_duration is not None and \
                m.duration_before_us >= self.max_duration * US_PER_S:
            return False
        if self.min_current is not None or self.max_current is not None:
            if not in_band(m.current, self.min_current, self.max_current):
                return False
        if self.min_power is not None or self.max_power is not None:
            if not in_band(m.power, self.min_power, self.max_power):
                return False
        return True


def in_time_window(now: int, start: int | None, end: int | None) -> bool:
    """``start`` inclusive, ``end`` exclusive; end before start wraps past midnight and an end
    of 00:00 is the end of the day."""
    if end == 0:
        end = None
    if start is None:
        return end is None or now < end
    if end is None:
        return now >= start
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def in_band(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if value is None:
        return False  # not measured: the CPO cannot claim the element applies
    return (low is None or value >= low) and (high is None or value < high)


@dataclass(slots=True, eq=False)  # compared by identity: output periods merge on it
class Element:
    index: int
    restrictions: Restrictions | None
    components: dict[TariffDimensionType, PriceComponent]
    kind: ReservationRestrictionType | BookingRestrictionType | None


class Moment(Protocol):
    """What restrictions are evaluated against: the start of a period."""

    @property
    def seconds_of_day(self) -> int: ...
    @property
    def weekday(self) -> int: ...
    @property
    def local_date(self) -> date: ...
    @property
    def kwh_before(self) -> Decimal: ...
    @property
    def duration_before_us(self) -> int: ...
    @property
    def current(self) -> Decimal | None: ...
    @property
    def power(self) -> Decimal | None: ...


@dataclass(slots=True)
class At:
    """A Moment of its own (a booking's overtime is measured from the end of its slot)."""

    seconds_of_day: int
    weekday: int
    local_date: date
    kwh_before: Decimal
    duration_before_us: int
    current: Decimal | None
    power: Decimal | None


class PhasePlan:
    """What a phase needs of its elements, the same for every session priced by them: the
    elements per dimension in the order they are tried, and the points where a restriction
    may change (time of day in seconds, durations in µs, kWh)."""

    __slots__ = ("by_dimension", "clock", "durations", "kwh")

    def __init__(self, elements: list[Element]) -> None:
        self.by_dimension: dict[TariffDimensionType, list[Element]] = {
            d: [e for e in elements if d in e.components] for d in TariffDimensionType}
        clock: set[int] = set()
        durations: set[int] = set()
        kwh: set[Decimal] = set()
        for e in elements:
            r = e.restrictions
            if r is None:
                continue
            for s in (r.start_s, r.end_s):
                if s is not None:
                    clock.add(s)
            if r.days is not None or r.start_date is not None or r.end_date is not None:
                clock.add(0)
            for d in (r.min_duration, r.max_duration):
                if d is not None:
                    durations.add(d * US_PER_S)
            for k in (r.min_kwh, r.max_kwh):
                if k is not None:
                    kwh.add(k)
        self.clock = sorted(clock)
        self.durations = sorted(durations)
        self.kwh = sorted(kwh)


class Phase:
    """One phase of a priced session (the session, a reservation, booking overtime): its
    plan, when it starts (durations count from there) and the location's time zone."""

    __slots__ = ("_next_clock", "by_dimension", "clock", "durations", "kwh", "name", "start",
                 "tz")

    def __init__(self, name: str, plan: PhasePlan, start: datetime, tz: ZoneInfo) -> None:
        self.name = name
        self.start = start
        self.tz = tz
        self.by_dimension = plan.by_dimension
        self.clock = plan.clock
        self.durations = plan.durations
        self.kwh = plan.kwh
        self._next_clock: datetime | None = None

    def next_clock_cut(self, at: datetime) -> datetime | None:
        """The first moment after ``at`` where a time-of-day or day restriction may change
        (periods come in order: the answer is kept until ``at`` passes it)."""
        if not self.clock:
            return None
        cached = self._next_clock
        if cached is not None and at < cached:
            return cached
        local = at.astimezone(self.tz)
        now = local.hour * 3600 + local.minute * 60 + local.second
        day = local.date()
        later = [s for s in self.clock if s > now]
        if not later:
            later, day = self.clock, day + timedelta(days=1)
        s = later[0]
        wall = datetime.combine(day, time(s // 3600, s % 3600 // 60), tzinfo=self.tz)
        found = wall.astimezone(UTC)
        self._next_clock = found if found > at else None
        return found


PhaseKinds = tuple[ReservationRestrictionType | BookingRestrictionType | None, ...]
"""The restriction kinds whose elements price a phase, first first (``(None,)``: the
session's, elements without a reservation or booking restriction)."""


class CompiledTariff:
    """A tariff's elements prepared once, with the plan of each phase asked for so far."""

    __slots__ = ("_plans", "elements")

    def __init__(self, tariff: Tariff) -> None:
        self.elements = compile_elements(tariff)
        self._plans: dict[PhaseKinds, PhasePlan] = {}

    def plan(self, kinds: PhaseKinds) -> PhasePlan:
        plan = self._plans.get(kinds)
        if plan is None:
            plan = self._plans[kinds] = PhasePlan(
                [e for kind in kinds for e in self.elements if e.kind is kind])
        return plan


_COMPILED_KEPT = 256
_compiled: dict[tuple[str, datetime | None], tuple[Tariff, CompiledTariff]] = {}


def compiled(tariff: Tariff) -> CompiledTariff:
    """``tariff`` prepared for pricing; kept while an equal tariff comes back (a session
    keeps its tariff as it was when bound, each stored session its own copy). A tariff that
    changed under the same id and ``last_updated`` (a reload that did not touch the date) is
    not equal: it is prepared anew."""
    key = (tariff.id, tariff.last_updated)
    cached = _compiled.get(key)
    if cached is not None and (cached[0] is tariff or cached[0] == tariff):
        return cached[1]
    made = CompiledTariff(tariff)
    if len(_compiled) >= _COMPILED_KEPT:
        _compiled.clear()
    _compiled[key] = (tariff, made)
    return made


def compile_elements(tariff: Tariff) -> list[Element]:
    elements = []
    for index, element in enumerate(tariff.elements):
        components: dict[TariffDimensionType, PriceComponent] = {}
        for component in element.price_components:
            components.setdefault(component.type, component)  # one per dimension counts
        r = element.restrictions
        elements.append(Element(index, None if r is None else Restrictions(r), components,
                                 element.reservation_kind))
    return elements
