"""Free timeslots over the capacity timeline: what a Calendar offers, and the nearest slots
to offer instead of a request that does not fit. Both read ``spare`` (one backend-neutral
read); admission itself stays the backends' atomic step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ocpi_gateway.reservation_policy.capacity.base import SpareSegment
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.spare_cache import SpareCache


class SpareSource(Protocol):
    """``CapacityTimeline.spare``, or a ``SpareCache`` over it."""

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]: ...


@dataclass(frozen=True, slots=True)
class Timeslot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SlotShape:
    """How a booking's slot maps onto the timeline (from the booking terms)."""

    lead: timedelta
    buffer: timedelta
    min_duration: timedelta
    reserve: int = 0


async def _free_intervals(timeline: SpareSource, location_id: str, need: Need,
                          start: datetime, end: datetime, reserve: int
                          ) -> list[tuple[datetime, datetime]]:
    if isinstance(timeline, SpareCache):
        return await timeline.free(location_id, need, start, end, reserve=reserve)
    free: list[tuple[datetime, datetime]] = []
    for segment in await timeline.spare(location_id, need, start, end, reserve=reserve):
        if segment.spare < 1:
            continue
        if free and free[-1][1] == segment.start:
            free[-1] = (free[-1][0], segment.end)
        else:
            free.append((segment.start, segment.end))
    return free


async def free_timeslots(timeline: SpareSource, location_id: str, need: Need,
                         start: datetime, end: datetime, shape: SlotShape) -> list[Timeslot]:
    """The maximal periods within [start, end) in which a booking of ``need`` fits (any slot
    inside one, of at least the minimum duration, may be booked)."""
    slots = []
    for free_from, free_to in await _free_intervals(timeline, location_id, need,
                                                    start - shape.lead, end + shape.buffer,
                                                    shape.reserve):
        slot = Timeslot(max(start, free_from + shape.lead), min(end, free_to - shape.buffer))
        if slot.end - slot.start >= shape.min_duration:
            slots.append(slot)
    return slots


async def nearest_free(timeline: SpareSource, location_id: str, need: Need,
                       wanted: Timeslot, shape: SlotShape, *, increment: timedelta,
                       horizon: timedelta, not_before: datetime, count: int = 3
                       ) -> list[Timeslot]:
    """Up to ``count`` slots of the wanted length that fit, shifted from the wanted start by
    whole increments within ``horizon``, nearest first (earlier first on a tie)."""
    length = wanted.end - wanted.start
    free = await _free_intervals(timeline, location_id, need,
                                 wanted.start - horizon - shape.lead,
                                 wanted.end + horizon + shape.buffer, shape.reserve)

    def fits(slot_start: datetime) -> bool:
        a, b = slot_start - shape.lead, slot_start + length + shape.buffer
        return any(x <= a and b <= y for x, y in free)

    # The wanted start, then one increment earlier and later, two, ...
    shifts = [timedelta(0)]
    for k in range(1, int(horizon / increment) + 1):
        shifts += [-k * increment, k * increment]
    found: list[Timeslot] = []
    for shift in shifts:
        candidate = wanted.start + shift
        if candidate >= not_before and fits(candidate):
            found.append(Timeslot(candidate, candidate + length))
            if len(found) == count:
                return found
    return found
