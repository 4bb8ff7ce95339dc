"""The example site day of docs/operator-guide.md ("Future bookings"), decision by decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpi_gateway.reservation_policy.booking_terms import promise_interval
from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.policy import BookingTerms
from tests.capacity.support import CCS, T2, Clock, ac, dc

DAY = datetime(2026, 12, 3, tzinfo=UTC)
TERMS = BookingTerms(enabled=True)
L = "EXAMPLE"


def hm(text: str) -> datetime:
    hours, minutes = text.split(":")
    return DAY + timedelta(hours=int(hours), minutes=int(minutes))


def booking(pid: str, start: str, end: str, need: Need) -> Promise:
    return Promise(pid, *promise_interval(TERMS, hm(start), hm(end)), need)


async def test_the_operator_guides_example_day(timeline: CapacityTimeline, clock: Clock) -> None:
    clock.now = DAY
    await timeline.set_supply(L, [ac("E1"), ac("E2"), ac("E3"), ac("E4"), dc("F1")])
    type2, ccs = Need(frozenset({T2})), Need(frozenset({CCS}), min_power_w=150000)

    async def admit(promise: Promise) -> Verdict:
        answer = await timeline.admit(L, promise, reserve=1)
        return answer.verdict

    assert await admit(booking("b1", "08:00", "09:00", type2)) is Verdict.ADMITTED
    assert await admit(booking("b2", "08:30", "10:00", type2)) is Verdict.ADMITTED
    assert await admit(booking("b3", "08:30", "10:00", type2)) is Verdict.ADMITTED
    fourth = await timeline.admit(L, booking("b4", "08:45", "09:15", type2), reserve=1)
    assert (fourth.verdict, fourth.at, fourth.promised, fourth.capacity) == (
        Verdict.FULL, hm("08:35"), 3, 3)
    later = await timeline.admit(L, booking("b5", "09:15", "10:00", type2), reserve=1)
    assert (later.verdict, later.at) == (Verdict.FULL, hm("09:05"))
    assert await admit(booking("b5", "09:30", "10:00", type2)) is Verdict.ADMITTED
    assert await admit(booking("fast", "12:00", "12:30", ccs)) is Verdict.FULL
    clock.now = hm("07:40")
    now_reservation = Promise("r1", hm("07:40"), hm("08:20"), evse_uid="E4",
                              kind=PromiseKind.RESERVATION)
    assert await admit(now_reservation) is Verdict.ADMITTED
    clock.now = hm("08:15")
    late = await timeline.admit(L, Promise("r2", hm("08:15"), hm("08:55"), evse_uid="E3",
                                           kind=PromiseKind.RESERVATION), reserve=1)
    assert (late.verdict, late.at) == (Verdict.FULL, hm("08:20"))
