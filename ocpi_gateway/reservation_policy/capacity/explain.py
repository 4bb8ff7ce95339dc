"""``policy explain --timeline``: a site's capacity timeline, and why a slot is or is not
offered (the term it breaks, or the instant its classes are full)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ocpi_gateway.reservation_policy.booking_terms import check_booking, promise_interval
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.classes import Need, SiteClasses, supply_of
from ocpi_gateway.reservation_policy.capacity.slots import SlotShape, Timeslot, nearest_free
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import PolicySettings


def _hm(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M")


async def explain_timeline(timeline: CapacityTimeline, location_id: str,
                           candidates: Sequence[EvseCandidate], settings: PolicySettings,
                           *, start: datetime, hours: float, need: Need, now: datetime,
                           slot: Timeslot | None = None) -> str:
    terms = settings.bookings
    supply = supply_of(candidates)
    table = SiteClasses.build(supply)
    await timeline.set_supply(location_id, supply)
    end = start + timedelta(hours=hours)
    reserve = settings.walk_in_reserve
    lines = [f"timeline of {location_id} ({_hm(start)} .. {_hm(end)} UTC)",
             f"  bookings: enabled={terms.enabled} lead={terms.activation_lead_minutes:g} "
             f"buffer={terms.turnover_buffer_minutes:g} min, walk_in_reserve={reserve}"]
    for i, c in enumerate(table.classes):
        lines.append(f"  class {c.label()}: {table.class_sizes[i]} EVSEs, "
                     f"{table.capacity(1 << i, reserve)} promisable at once")
    promises = await timeline.promises(location_id, start, end)
    lines.append(f"  promises: {len(promises)}")
    for p in promises:
        what = f"EVSE {p.evse_uid}" if p.evse_uid else (p.need.encode() or "any")
        lines.append(f"    {_hm(p.start)}-{_hm(p.end)} {p.kind.value} {p.promise_id} ({what})")
    lines.append("  spare for this need:")
    for seg in await timeline.spare(location_id, need, start, end, reserve=reserve):
        lines.append(f"    {_hm(seg.start)}-{_hm(seg.end)} {seg.spare}")
    if slot is not None:
        lines.append(await _slot_verdict(timeline, location_id, settings, need, slot, now))
    return "\n".join(lines)


async def _slot_verdict(timeline: CapacityTimeline, location_id: str,
                        settings: PolicySettings, need: Need, slot: Timeslot,
                        now: datetime) -> str:
    terms = settings.bookings
    head = f"  slot {_hm(slot.start)}-{_hm(slot.end)}:"
    violation = check_booking(terms, slot.start, slot.end, now)
    if violation is not None:
        return f"{head} not offered: {violation.term}: {violation.message}"
    a, b = promise_interval(terms, slot.start, slot.end)
    segments = await timeline.spare(location_id, need, a, b, reserve=settings.walk_in_reserve)
    full = next((s for s in segments if s.spare < 1), None)
    if full is None:
        return f"{head} offered (takes {_hm(a)}-{_hm(b)})"
    shape = SlotShape(timedelta(minutes=terms.activation_lead_minutes),
                      timedelta(minutes=terms.turnover_buffer_minutes),
                      timedelta(minutes=terms.min_duration_minutes), settings.walk_in_reserve)
    nearest = await nearest_free(timeline, location_id, need, slot, shape,
                                 increment=timedelta(minutes=terms.timeslot_increment_minutes),
                                 horizon=timedelta(hours=6), not_before=now)
    offer = ", ".join(f"{_hm(t.start)}-{_hm(t.end)}" for t in nearest) or "none within 6 h"
    return (f"{head} not offered: full from {_hm(full.start)} to {_hm(full.end)} "
            f"(its promise takes {_hm(a)}-{_hm(b)}); nearest free: {offer}")
