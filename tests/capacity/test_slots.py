"""Free timeslots (Calendars) and the nearest free slots for a request that does not fit."""

from __future__ import annotations

from datetime import timedelta

from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Promise
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.slots import (
    SlotShape,
    Timeslot,
    free_timeslots,
    nearest_free,
)
from ocpi_gateway.reservation_policy.capacity.spare_cache import SpareCache
from tests.capacity.support import CCS, T2, ac, at, dc

L = "LOC-S"
SHAPE = SlotShape(lead=timedelta(minutes=10), buffer=timedelta(minutes=5),
                  min_duration=timedelta(minutes=30))


async def test_free_timeslots_leave_room_for_lead_and_buffer(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), dc("F1")])
    # E1 promised 100..200 (a booking of 110..195 with lead 10 and buffer 5).
    assert (await timeline.admit(L, Promise("b", at(100), at(200), Need(frozenset({T2}))))).ok
    slots = await free_timeslots(timeline, L, Need(frozenset({T2})), at(0), at(400), SHAPE)
    # Before: a slot must end so that its buffer ends by 100; after: start after 200 + lead.
    assert slots == [Timeslot(at(0), at(95)), Timeslot(at(210), at(400))]
    # The CCS EVSE is untouched; any need may use it.
    assert await free_timeslots(timeline, L, Need(frozenset({CCS})), at(0), at(400), SHAPE
                                ) == [Timeslot(at(0), at(400))]
    assert await free_timeslots(timeline, L, Need(), at(0), at(400), SHAPE
                                ) == [Timeslot(at(0), at(400))]
    # Too short a gap is no slot (210..235 is 25 min).
    assert (await timeline.admit(L, Promise("c", at(240), at(300), Need(frozenset({T2}))))).ok
    assert await free_timeslots(timeline, L, Need(frozenset({T2})), at(200), at(400), SHAPE
                                ) == [Timeslot(at(310), at(400))]


async def test_nearest_free_slots(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, Promise("b", at(100), at(200)))).ok
    wanted = Timeslot(at(150), at(180))
    found = await nearest_free(timeline, L, Need(), wanted, SHAPE,
                               increment=timedelta(minutes=15), horizon=timedelta(hours=3),
                               not_before=at(0))
    # Starts up to 65 end (with the buffer) by 100, from 210 on their lead starts at 200:
    # 210 (4 increments later), 225 (5), then 60 (6 earlier).
    assert found == [Timeslot(at(210), at(240)), Timeslot(at(225), at(255)),
                     Timeslot(at(60), at(90))]
    assert await nearest_free(timeline, L, Need(), wanted, SHAPE,
                              increment=timedelta(minutes=15), horizon=timedelta(hours=3),
                              not_before=at(100), count=1) == [Timeslot(at(210), at(240))]


async def test_free_periods_of_different_spare_make_one_slot(timeline: CapacityTimeline
                                                             ) -> None:
    # Two EVSEs, one promised 100..200: spare 2, then 1, then 2 — free throughout, one slot,
    # read from the timeline itself and through the kept profile alike.
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, Promise("b", at(100), at(200)))).ok
    for source in (timeline, SpareCache(timeline)):
        assert await free_timeslots(source, L, Need(), at(0), at(400), SHAPE) == [
            Timeslot(at(0), at(400))], source


async def test_a_later_free_period_is_joined_on_its_own(timeline: CapacityTimeline) -> None:
    # Spare 2 to 50, 0 to 100, then 2, 1 (150..200) and 2: two free periods, the second
    # joined from three segments.
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    for pid, a, b in (("a1", 50, 100), ("a2", 50, 100), ("c", 150, 200)):
        assert (await timeline.admit(L, Promise(pid, at(a), at(b)))).ok
    for source in (timeline, SpareCache(timeline)):
        assert await free_timeslots(source, L, Need(), at(0), at(400), SHAPE) == [
            Timeslot(at(0), at(45)), Timeslot(at(110), at(400))], source


async def test_a_gap_of_exactly_the_minimum_duration_is_a_slot(timeline: CapacityTimeline
                                                                ) -> None:
    await timeline.set_supply(L, [ac("E1")])
    # Promised to 200 and from 245: a slot from 210 (lead) to 240 (buffer), 30 min.
    assert (await timeline.admit(L, Promise("b", at(100), at(200)))).ok
    assert (await timeline.admit(L, Promise("c", at(245), at(300)))).ok
    for source in (timeline, SpareCache(timeline)):
        assert await free_timeslots(source, L, Need(), at(150), at(290), SHAPE) == [
            Timeslot(at(210), at(240))], source


async def test_nearest_free_reaches_both_ends_of_its_horizon(timeline: CapacityTimeline
                                                            ) -> None:
    await timeline.set_supply(L, [ac("E1")])
    half_hour = {"increment": timedelta(minutes=15), "horizon": timedelta(minutes=30)}
    # Full from 125: of 120, 105, 135, 90 and 150 only the earliest, 90 (to 125 with its
    # buffer, from 80 with its lead), fits — also when nothing before 90 may be offered.
    assert (await timeline.admit(L, Promise("late", at(125), at(400)))).ok
    wanted = Timeslot(at(120), at(150))
    assert await nearest_free(timeline, L, Need(), wanted, SHAPE, not_before=at(90),
                              **half_hour) == [Timeslot(at(90), at(120))]
    # Full 50..130: only the latest, 150 (its lead from 140, its buffer to 185), fits.
    assert await timeline.release(L, "late")
    assert (await timeline.admit(L, Promise("early", at(50), at(130)))).ok
    assert await nearest_free(timeline, L, Need(), wanted, SHAPE, not_before=at(0),
                              **half_hour) == [Timeslot(at(150), at(180))]
    # A wanted slot that fits is the first found, once, then the nearest others.
    assert await nearest_free(timeline, L, Need(), Timeslot(at(200), at(230)), SHAPE,
                              not_before=at(0), count=3, **half_hour) == [
        Timeslot(at(200), at(230)), Timeslot(at(185), at(215)), Timeslot(at(215), at(245))]
