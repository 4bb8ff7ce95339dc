"""Sessions in progress on the capacity timeline, one contract for both backends: a car
charging until an estimated end counts in a new admission (a booking, a RESERVE_NOW), never
in moving a promise already counted (a binding), never takes its EVSE from a promise, and
leaves when released."""

from __future__ import annotations

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from tests.capacity.support import AC, CCS, DC, T2, ac, at, dc, evse

L = "LOC-1"


def booking(pid: str, start: float, end: float, need: Need | None = None,
            evse_uid: str | None = None) -> Promise:
    return Promise(pid, at(start), at(end), need or Need(), evse_uid)


def session(evse_uid: str, start: float, end: float) -> Promise:
    return Promise(f"session|{evse_uid}", at(start), at(end), evse_uid=evse_uid,
                   kind=PromiseKind.SESSION)


def reservation(pid: str, evse_uid: str, start: float, end: float) -> Promise:
    return Promise(pid, at(start), at(end), evse_uid=evse_uid, kind=PromiseKind.RESERVATION)


async def test_a_session_counts_in_new_admissions_until_its_estimated_end(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    await timeline.occupy(L, session("E2", 0, 45))
    full = await timeline.admit(L, booking("b2", 30, 60))
    assert full.verdict is Verdict.FULL and full.at == at(30) and full.promised == 2
    assert (await timeline.admit(L, booking("b2", 45, 90))).ok
    # A RESERVE_NOW counts it too: E1 now would leave b1 no EVSE while the car charges...
    assert (await timeline.admit(L, reservation("r1", "E1", 0, 50))).verdict is Verdict.FULL
    # ... and so does the sweep's spare (what calendars offer).
    spare = await timeline.spare(L, Need(), at(0), at(90))
    assert [(s.start, s.end, s.spare) for s in spare] == [(at(0), at(60), 0),
                                                          (at(60), at(90), 1)]


async def test_moving_a_promise_already_counted_does_not_count_sessions(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit(L, booking("b2", 0, 60))).ok
    # More cars than the promises left room for (they came after): the site is over-full.
    await timeline.occupy(L, session("E2", 0, 30))
    bind = booking("b1", 0, 60, evse_uid="E1")
    assert (await timeline.amend(L, bind)).verdict is Verdict.FULL
    assert (await timeline.get(L, "b1")) == booking("b1", 0, 60)
    assert (await timeline.amend(L, bind, sessions=False)).ok
    assert (await timeline.get(L, "b1")) == bind
    assert (await timeline.admit(L, booking("b3", 30, 60), sessions=False)).verdict \
        is Verdict.FULL  # the promises still count


async def test_a_session_never_takes_its_evse_from_a_promise(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    # Its end went unreported: the car left, the EVSE is reserved anew (counted, not taken).
    await timeline.occupy(L, session("E1", 0, 60))
    assert (await timeline.admit(L, reservation("r1", "E1", 10, 40))).ok
    taken = await timeline.admit(L, reservation("r2", "E1", 20, 50))
    assert taken.verdict is Verdict.EVSE_TAKEN and taken.at == at(10)
    assert (await timeline.admit(L, booking("b1", 10, 40))).verdict is Verdict.FULL


async def test_occupy_replaces_the_session_and_release_ends_it(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    before = (await timeline.changes(L, None)).version
    await timeline.occupy(L, session("E1", 0, 30))
    await timeline.occupy(L, session("E1", 0, 50))  # extended: still charging
    assert await timeline.promises(L, at(0), at(100)) == [session("E1", 0, 50)]
    changes = await timeline.changes(L, before)
    assert changes.spans is not None
    assert (ms(at(0)), ms(at(50))) in changes.spans
    assert (await timeline.admit(L, booking("b1", 40, 60))).verdict is Verdict.FULL
    assert await timeline.release(L, "session|E1") is True
    assert await timeline.promises(L, at(0), at(100)) == []
    assert (await timeline.admit(L, booking("b1", 40, 60))).ok


async def test_a_session_on_an_evse_of_two_classes_counts_for_both(
        timeline: CapacityTimeline) -> None:
    both = evse("D1", (T2, AC, 22000), (CCS, DC, 150000))
    await timeline.set_supply(L, [both, ac("E2"), dc("E3")])
    await timeline.occupy(L, session("D1", 0, 60))
    t2, ccs = Need(frozenset({T2})), Need(frozenset({CCS}))
    assert (await timeline.admit(L, booking("a", 0, 60, t2))).ok  # E2
    assert (await timeline.admit(L, booking("c", 0, 60, ccs))).ok  # E3
    assert (await timeline.admit(L, booking("d", 0, 60, ccs))).verdict is Verdict.FULL


@pytest.mark.parametrize("bad", [
    booking("b1", 0, 30, evse_uid="E1"),
    Promise("session|E1", at(0), at(30), kind=PromiseKind.SESSION),
    Promise("session|E1", at(30), at(30), evse_uid="E1", kind=PromiseKind.SESSION),
])
async def test_occupy_takes_only_a_session_on_one_evse(timeline: CapacityTimeline,
                                                       bad: Promise) -> None:
    await timeline.set_supply(L, [ac("E1")])
    await timeline.occupy(L, session("E1", 0, 10))
    with pytest.raises(ValueError):
        await timeline.occupy(L, bad)
    assert await timeline.promises(L, at(0), at(100)) == [session("E1", 0, 10)]


async def test_a_session_may_last_a_day(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    await timeline.occupy(L, session("E1", 0, 24 * 60))
    with pytest.raises(ValueError):
        await timeline.occupy(L, session("E1", 0, 24 * 60 + 1))
    assert await timeline.promises(L, at(0), at(10)) == [session("E1", 0, 24 * 60)]
