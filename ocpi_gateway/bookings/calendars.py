"""BookingLocations and their Calendars, computed from the locations, the policy's booking
terms and the capacity timeline: one BookingLocation per location where the partner may book
(its id is the location's), one Calendar per class of EVSE there (connector standard, power
type, power level), whose available timeslots are the periods in which one more booking of
that class fits, on the timeslot grid, from now to ``max_advance_days`` ahead.

Nothing is stored: a calendar is what ``spare`` says now (through the ``SpareCache``, which
keeps the spare profile and recomputes only what the timeline's change log says changed).
``SiteChanges`` remembers when a site's calendars last changed (a booking, a cancellation, a
status change, a policy or locations reload) for ``last_updated`` and for the pushes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.reservation_policy.capacity.classes import (
    EvseClass,
    Need,
    SiteClasses,
    supply_of,
)
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.capacity.slots import (
    SlotShape,
    SpareSource,
    free_timeslots,
)
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import BookingTerms, PolicySettings

_MAX_ID = 36


def site_zone(location: OperatorLocation | None) -> tzinfo:
    if location is None:
        return UTC
    try:
        return ZoneInfo(location.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def calendar_id(cls: EvseClass) -> str:
    """A stable id per class (the same class keeps its calendar across reloads), readable
    when it fits in a CiString(36) and holds no '/' (it is a URL segment)."""
    readable = f"{cls.standard}-{cls.power_type or 'ANY'}-{cls.power_w / 1000:g}kW"
    if len(readable) <= _MAX_ID:
        return readable
    return "C-" + hashlib.sha256(readable.encode()).hexdigest()[:16]


def class_need(cls: EvseClass) -> Need:
    return Need(frozenset({cls.standard}),
                frozenset({cls.power_type}) if cls.power_type else frozenset(), cls.power_w)


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CalendarView:
    id: str
    cls: EvseClass
    begin: datetime
    end: datetime
    increment_minutes: float
    slots: tuple[Slot, ...]


def _grid_up(moment: datetime, increment: timedelta, zone: tzinfo) -> datetime:
    local = moment.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = -((midnight - local) // increment)  # ceiling
    return (midnight + steps * increment).astimezone(UTC)


def _grid_down(moment: datetime, increment: timedelta, zone: tzinfo) -> datetime:
    local = moment.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + ((local - midnight) // increment) * increment).astimezone(UTC)


def window_of(terms: BookingTerms, now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """What a calendar covers: the next grid step from now to ``max_advance_days`` ahead."""
    increment = timedelta(minutes=terms.timeslot_increment_minutes)
    return (_grid_up(now, increment, zone),
            _grid_down(now + timedelta(days=terms.max_advance_days), increment, zone))


async def calendar_of(timeline: SpareSource, location_id: str, cls: EvseClass,
                      settings: PolicySettings, begin: datetime, end: datetime,
                      zone: tzinfo) -> CalendarView:
    terms = settings.bookings
    increment = timedelta(minutes=terms.timeslot_increment_minutes)
    shape = SlotShape(timedelta(minutes=terms.activation_lead_minutes),
                      timedelta(minutes=terms.turnover_buffer_minutes),
                      timedelta(minutes=terms.min_duration_minutes), settings.walk_in_reserve)
    slots = []
    for free in await free_timeslots(timeline, location_id, class_need(cls), begin, end, shape):
        start = _grid_up(free.start, increment, zone)
        stop = _grid_down(free.end, increment, zone)
        if stop - start >= shape.min_duration:
            slots.append(Slot(start, stop))
    return CalendarView(calendar_id(cls), cls, begin, end, terms.timeslot_increment_minutes,
                        tuple(slots))


@dataclass(frozen=True, slots=True)
class BookingSite:
    """A BookingLocation in the internal model, for one partner's terms."""

    location: OperatorLocation
    settings: PolicySettings
    calendars: tuple[CalendarView, ...]
    reservation_required: bool
    walk_in_evses: int
    """EVSEs of the site that are not bookable (ad hoc charging)."""
    tariff_ids: tuple[str, ...]
    last_updated: datetime


class SiteChanges:
    """When each site's calendars last changed, as this instance saw it (a restart counts as
    a change of every site)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._started = clock()
        self._changed: dict[str, datetime] = {}

    def touch(self, location_id: str) -> datetime:
        now = self._clock()
        self._changed[location_id] = now
        return now

    def touch_all(self) -> None:
        self._started = self._clock()
        self._changed.clear()

    def last(self, location_id: str) -> datetime:
        return self._changed.get(location_id, self._started)


def _tariffs(location: OperatorLocation) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for evse in location.evses:
        for connector in evse.connectors:
            for tariff_id in connector.tariff_ids or ():
                found[tariff_id] = None
    return tuple(found)


async def booking_site(capacity: ReservationCapacity, location: OperatorLocation,
                       candidates: Sequence[EvseCandidate], settings: PolicySettings, *,
                       now: datetime, last_updated: datetime, reservation_required: bool,
                       only: str | None = None, within: tuple[datetime | None,
                                                            datetime | None] = (None, None),
                       spare: SpareSource | None = None) -> BookingSite:
    """The site as ``settings`` (one partner's) see it; ``only`` a calendar id; ``within``
    narrows the calendars to [from, to); ``spare`` reads the timeline (a ``SpareCache``:
    what a calendar asked again costs only what changed)."""
    table: SiteClasses = await capacity.ensure_site(location.id, candidates)
    zone = site_zone(location)
    begin, end = window_of(settings.bookings, now, zone)
    if within[0] is not None:
        begin = max(begin, within[0])
    if within[1] is not None:
        end = min(end, within[1])
    views = []
    for cls in table.classes:
        if only is not None and calendar_id(cls).upper() != only.upper():
            continue
        if end > begin:
            views.append(await calendar_of(spare or capacity.timeline, location.id, cls,
                                           settings, begin, end, zone))
    bookable = len(supply_of(candidates))
    return BookingSite(location, settings, tuple(views), reservation_required,
                       len(location.evses) - bookable, _tariffs(location), last_updated)
