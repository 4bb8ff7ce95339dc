"""The nearest free timeslots to offer instead of a request that does not fit: slots of the
same length, on the timeslot grid, shifted from the wanted start by whole increments within
``HORIZON`` (never before now, never past ``max_advance_days``), nearest first."""

from __future__ import annotations

from datetime import datetime, timedelta

from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService, need_of
from ocpi_gateway.reservation_policy.capacity.slots import SlotShape, Timeslot, nearest_free

HORIZON = timedelta(hours=12)
COUNT = 3


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def nearest_timeslots(service: BookingService, booking: Booking, now: datetime
                            ) -> list[Timeslot]:
    terms = booking.terms
    reserve = service.policy.effective(booking.location_id, booking.partner).walk_in_reserve
    shape = SlotShape(timedelta(minutes=terms.activation_lead_minutes),
                      timedelta(minutes=terms.turnover_buffer_minutes),
                      timedelta(minutes=terms.min_duration_minutes), reserve)
    found = await nearest_free(
        service.capacity.timeline, booking.location_id, need_of(booking),
        Timeslot(booking.start, booking.end), shape,
        increment=timedelta(minutes=terms.timeslot_increment_minutes), horizon=HORIZON,
        not_before=now, count=COUNT)
    latest = now + timedelta(days=terms.max_advance_days)
    return [slot for slot in found if slot.start <= latest]


async def nearest_message(service: BookingService, booking: Booking, now: datetime) -> str:
    slots = await nearest_timeslots(service, booking, now)
    if not slots:
        return f"no free timeslot within {HORIZON.total_seconds() / 3600:g} h"
    return "nearest free timeslots: " + ", ".join(
        f"{_stamp(s.start)}/{_stamp(s.end)}" for s in slots)
