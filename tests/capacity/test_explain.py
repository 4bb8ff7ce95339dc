"""``policy explain --timeline``: the site's classes, promises and spare capacity, and why a
slot is or is not offered."""

from __future__ import annotations

from datetime import timedelta

from ocpi_gateway.reservation_policy.booking_terms import promise_interval
from ocpi_gateway.reservation_policy.capacity.base import Promise
from ocpi_gateway.reservation_policy.capacity.classes import Need, supply_of
from ocpi_gateway.reservation_policy.capacity.explain import explain_timeline
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.slots import Timeslot
from ocpi_gateway.reservation_policy.models import ConnectorInfo
from ocpi_gateway.reservation_policy.policy import parse_policy
from tests.capacity.support import T0, Clock
from tests.policy.support import evse

SETTINGS = parse_policy({"defaults": {"walk_in_reserve": 0, "bookings": {
    "enabled": True}}}).effective("SITE")
SITE = [evse("E1", "CP1", location="SITE",
             connectors=(ConnectorInfo("IEC_62196_T2", 22000, "AC_3_PHASE"),))]


def at(hours: float, minutes: float = 0) -> Timeslot:
    start = T0 + timedelta(hours=hours)
    return Timeslot(start, start + timedelta(minutes=minutes or 60))


async def test_the_timeline_and_why_a_slot_is_or_is_not_offered() -> None:
    timeline = MemoryCapacity(clock=Clock())
    await timeline.set_supply("SITE", supply_of(SITE))
    booked = at(2)
    assert (await timeline.admit("SITE", Promise(
        "b1", *promise_interval(SETTINGS.bookings, booked.start, booked.end), Need()))).ok

    async def render(slot: Timeslot) -> str:
        return await explain_timeline(timeline, "SITE", SITE, SETTINGS, start=T0, hours=6,
                                      need=Need(), now=T0, slot=slot)

    text = await render(at(4))
    assert "class IEC_62196_T2/AC_3_PHASE/22kW: 1 EVSEs, 1 promisable at once" in text
    assert "\n  promises: 1\n    12-02 09:50-12-02 11:10 booking b1 (||0)\n" in text
    assert "\n  spare for this need:\n    12-02 08:00-12-02 09:50 1\n" in text
    assert "12-02 09:50-12-02 11:10 0" in text
    assert "slot 12-02 12:00-12-02 13:00: offered (takes 12-02 11:50-12-02 13:10)" in text
    full = await render(at(2, 30))
    assert "not offered: full from 12-02 09:50" in full
    # 10:00-10:30 shifted by 15 min steps: 09:00 (its buffer ends 09:40 < 09:50), 08:45,
    # 08:30; later ones need their lead after 11:10, the first is 11:30 (six steps away).
    assert ("nearest free: 12-02 09:00-12-02 09:30, 12-02 08:45-12-02 09:15, "
            "12-02 08:30-12-02 09:00") in full
    too_long = await render(at(1, 300))
    assert "not offered: max_duration_minutes: 300 min > maximum 240 min" in too_long


async def test_explain_sets_the_supply_it_explains() -> None:
    timeline = MemoryCapacity(clock=Clock())  # never told the site's supply
    text = await explain_timeline(timeline, "SITE", SITE, SETTINGS, start=T0, hours=1,
                                  need=Need(), now=T0)
    assert text.endswith("  promises: 0\n  spare for this need:\n    12-02 08:00-12-02 09:00 1")


async def test_the_nearest_free_slots_are_looked_for_six_hours_each_way() -> None:
    timeline = MemoryCapacity(clock=Clock())
    await timeline.set_supply("SITE", supply_of(SITE))
    # Full from 08:00 to 18:20: a 12:00 hour fits first at 18:30 (its lead after 18:20),
    # six and a half hours away: beyond the horizon.
    assert (await timeline.admit("SITE", Promise(
        "b1", T0, T0 + timedelta(hours=10, minutes=20), Need()))).ok
    text = await explain_timeline(timeline, "SITE", SITE, SETTINGS, start=T0, hours=1,
                                  need=Need(), now=T0, slot=at(4))
    assert text.endswith("nearest free: none within 6 h")
    assert (await timeline.amend("SITE", Promise(
        "b1", T0, T0 + timedelta(hours=9, minutes=50), Need()))).ok
    text = await explain_timeline(timeline, "SITE", SITE, SETTINGS, start=T0, hours=1,
                                  need=Need(), now=T0, slot=at(4))
    assert text.endswith("nearest free: 12-02 18:00-12-02 19:00")
