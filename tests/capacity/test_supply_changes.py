"""A site's classes change (an EVSE's connectors edited, a reload, a restore after Redis lost
it): the promises it holds are counted by the new classes at the next admission, not by what
they were counted as before (the in-process timeline keeps each promise's view between
admissions)."""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from tests.capacity.support import CCS, DC, T2, ac, at, dc

L = "LOC-1"
T2_ONLY = Need(frozenset({T2}))


def held_on(evse_uid: str) -> Promise:
    return Promise("r1", at(0), at(60), evse_uid=evse_uid, kind=PromiseKind.RESERVATION)


def wants_t2(pid: str) -> Promise:
    return Promise(pid, at(10), at(50), T2_ONLY)


async def test_a_held_evse_that_left_the_class_no_longer_counts_in_it(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, held_on("E1"))).ok
    assert (await timeline.admit(L, wants_t2("b1"))).ok
    full = await timeline.admit(L, wants_t2("b2"))
    assert full.verdict is Verdict.FULL  # E1 held, E2 promised
    await timeline.set_supply(L, [dc("E1"), ac("E2"), ac("E3")])
    # E1 is a CCS EVSE now: its hold is no T2 load, so E2 and E3 serve b1 and b2.
    assert (await timeline.admit(L, wants_t2("b2"))).ok


async def test_a_held_evse_that_joined_the_class_counts_in_it(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [dc("E1"), ac("E2")])
    assert (await timeline.admit(L, held_on("E1"))).ok
    assert (await timeline.admit(L, wants_t2("b1"))).ok
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    full = await timeline.admit(L, wants_t2("b2"))
    assert full.verdict is Verdict.FULL and full.promised == 2 and full.capacity == 2


async def test_a_restore_counts_what_it_keeps_by_the_supply_it_sets(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, held_on("E1"))).ok
    assert (await timeline.admit(L, wants_t2("b1"))).ok
    assert await timeline.restore(L, [dc("E1"), ac("E2"), ac("E3")], []) == 0
    assert (await timeline.admit(L, wants_t2("b2"))).ok
    full = await timeline.admit(L, Promise("b3", at(10), at(50),
                                           Need(frozenset({CCS}), frozenset({DC}))))
    # E1, the one CCS EVSE, is held; b1 and b2 want T2 and are no CCS load.
    assert full.verdict is Verdict.FULL and full.promised == 1 and full.capacity == 1
