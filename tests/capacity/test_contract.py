"""One contract, two implementations of the capacity timeline: in-process and Redis."""

from __future__ import annotations

import asyncio

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from tests.capacity.support import AC, CCS, DC, T2, Clock, ac, at, dc, evse

L = "LOC-1"


def booking(pid: str, start: float, end: float, need: Need | None = None) -> Promise:
    return Promise(pid, at(start), at(end), need or Need())


def bound(pid: str, evse_uid: str, start: float, end: float) -> Promise:
    return Promise(pid, at(start), at(end), evse_uid=evse_uid, kind=PromiseKind.RESERVATION)


async def test_no_supply_no_admission(timeline: CapacityTimeline) -> None:
    assert (await timeline.admit(L, booking("b1", 0, 60))).verdict is Verdict.NO_INVENTORY


async def test_single_class_counts_overlap_at_every_instant(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit(L, booking("b2", 30, 90))).ok
    third = await timeline.admit(L, booking("b3", 50, 70))
    assert third.verdict is Verdict.FULL
    assert third.at == at(50) and third.promised == 2 and third.capacity == 2
    assert [c.standard for c in third.classes] == [T2]
    # Half-open intervals: one ending at 60 leaves room for one starting at 60.
    assert (await timeline.admit(L, booking("b4", 60, 80))).ok
    late = await timeline.admit(L, booking("b5", 10, 95))
    assert late.verdict is Verdict.FULL and late.at == at(30)


async def test_walk_in_reserve_lowers_capacity_at_every_instant(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2"), ac("E3")])
    assert (await timeline.admit(L, booking("b1", 0, 60), reserve=1)).ok
    assert (await timeline.admit(L, booking("b2", 100, 200), reserve=1)).ok
    refused = await timeline.admit(L, booking("b3", 50, 150), reserve=1)
    # Two overlap at 100..150 only if b3 fits beside b2 and b1: capacity 3 - 1 = 2.
    assert refused.ok
    fourth = await timeline.admit(L, booking("b4", 140, 160), reserve=1)
    assert fourth.verdict is Verdict.FULL and fourth.capacity == 2 and fourth.at == at(140)
    assert (await timeline.admit(L, booking("b4", 140, 160), reserve=0)).ok


async def test_hall_condition_over_classes_sharing_an_evse(timeline: CapacityTimeline) -> None:
    # D has both standards, X only T2: each class alone looks fine, together they do not.
    await timeline.set_supply(L, [evse("D", (T2, AC, 22000), (CCS, DC, 50000)), ac("X")])
    assert (await timeline.admit(L, booking("ccs", 0, 60, Need(frozenset({CCS}))))).ok
    assert (await timeline.admit(L, booking("t2a", 0, 60, Need(frozenset({T2}))))).ok
    t2b = await timeline.admit(L, booking("t2b", 10, 20, Need(frozenset({T2}))))
    assert t2b.verdict is Verdict.FULL
    assert {c.standard for c in t2b.classes} == {T2, CCS}
    assert t2b.promised == 2 and t2b.capacity == 2 and t2b.at == at(10)
    # A second CCS booking fails on the CCS class alone (one EVSE serves it).
    ccs2 = await timeline.admit(L, booking("ccs2", 30, 40, Need(frozenset({CCS}))))
    assert ccs2.verdict is Verdict.FULL and {c.standard for c in ccs2.classes} == {CCS}


async def test_power_levels_serve_lower_requests(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [dc("F1", 150000), dc("S1", 50000)])
    fast = Need(frozenset({CCS}), min_power_w=100000)
    assert (await timeline.admit(L, booking("f1", 0, 60, fast))).ok
    assert (await timeline.admit(L, booking("f2", 0, 60, fast))).verdict is Verdict.FULL
    slow = Need(frozenset({CCS}), min_power_w=40000)
    assert (await timeline.admit(L, booking("s1", 0, 60, slow))).ok
    assert (await timeline.admit(L, booking("s2", 0, 60, slow))).verdict is Verdict.FULL
    assert (await timeline.admit(L, booking("ac", 0, 60, Need(frozenset({T2}))))
            ).verdict is Verdict.NO_CLASS
    too_much = Need(min_power_w=200000)
    assert (await timeline.admit(L, booking("x", 0, 60, too_much))).verdict is Verdict.NO_CLASS


async def test_power_type_is_part_of_the_class(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("A1"), dc("D1")])
    assert (await timeline.admit(L, booking("dc", 0, 60, Need(power_types=frozenset({DC}))))).ok
    second = await timeline.admit(L, booking("dc2", 0, 60, Need(power_types=frozenset({DC}))))
    assert second.verdict is Verdict.FULL
    assert (await timeline.admit(L, booking("ac", 0, 60, Need(power_types=frozenset({AC}))))).ok


async def test_bound_promises_hold_their_evse(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert (await timeline.admit(L, bound("r1", "E1", 0, 30))).ok
    taken = await timeline.admit(L, bound("r2", "E1", 20, 40))
    assert taken.verdict is Verdict.EVSE_TAKEN and taken.at == at(0)
    assert (await timeline.admit(L, bound("r2", "E2", 20, 40))).ok
    # Both EVSEs are held 20..30: a booking then does not fit, from 30 on it does.
    assert (await timeline.admit(L, booking("b1", 25, 60))).verdict is Verdict.FULL
    assert (await timeline.admit(L, booking("b1", 30, 60))).ok
    assert (await timeline.admit(L, bound("r3", "NOPE", 0, 10))).verdict is Verdict.NO_CLASS


async def test_a_reservation_now_does_not_take_the_evse_a_booking_needs(
        timeline: CapacityTimeline) -> None:
    # The seeds' case: the only EVSE is booked for 18:00; a reservation at 17:30 until 18:10
    # must not be admitted, one until 17:55 may.
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("b18", 590, 660))).ok
    assert (await timeline.admit(L, bound("r", "E1", 570, 610))).verdict is Verdict.FULL
    assert (await timeline.admit(L, bound("r", "E1", 570, 590))).ok


async def test_admit_is_idempotent_and_refuses_another_promise_under_an_id(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit(L, booking("b1", 0, 30))).verdict is Verdict.DUPLICATE
    assert await timeline.get(L, "b1") == booking("b1", 0, 60)


async def test_amend_replaces_only_when_the_new_one_fits(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit(L, booking("b2", 60, 120))).ok
    # Moving b1 later collides with b2: refused, b1 stays where it was.
    assert (await timeline.amend(L, booking("b1", 30, 90))).verdict is Verdict.FULL
    assert await timeline.get(L, "b1") == booking("b1", 0, 60)
    # Its own old interval does not count against it.
    assert (await timeline.amend(L, booking("b1", 10, 60))).ok
    assert await timeline.get(L, "b1") == booking("b1", 10, 60)
    assert (await timeline.admit(L, booking("b3", 0, 10))).ok
    # Binding: the booking becomes bound to its EVSE.
    assert (await timeline.amend(L, bound("b2", "E1", 60, 120))).ok
    got = await timeline.get(L, "b2")
    assert got is not None and got.evse_uid == "E1"
    # amend of an unknown id adds it.
    assert (await timeline.amend(L, booking("b9", 200, 210))).ok


async def test_release_frees_capacity_and_can_be_limited_to_an_evse(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, bound("r1", "E1", 0, 60))).ok
    assert await timeline.release(L, "r1", evse_uid="E2") is False
    assert (await timeline.admit(L, booking("b1", 0, 60))).verdict is Verdict.FULL
    assert await timeline.release(L, "r1", evse_uid="E1") is True
    assert await timeline.release(L, "r1") is False
    assert await timeline.get(L, "r1") is None
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok


async def test_long_promises_are_found_from_a_later_window(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("long", 0, 600))).ok
    assert (await timeline.admit(L, booking("short", 700, 710))).ok
    found = await timeline.promises(L, at(500), at(505))
    assert [p.promise_id for p in found] == ["long"]
    assert (await timeline.admit(L, booking("mid", 590, 595))).verdict is Verdict.FULL
    assert [p.promise_id for p in await timeline.promises(L, at(0), at(800))] == [
        "long", "short"]


async def test_invalid_promises(timeline: CapacityTimeline, clock: Clock) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("empty", 10, 10))).verdict is Verdict.INVALID
    assert (await timeline.admit(L, booking("huge", 0, 24 * 60 + 1))).verdict is Verdict.INVALID
    assert (await timeline.admit(L, booking("day", 0, 24 * 60))).ok
    clock.advance(120)
    assert (await timeline.admit(L, booking("past", 30, 60))).verdict is Verdict.INVALID


async def test_spare_capacity_segments(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2"), dc("D1")])
    await timeline.admit(L, booking("b1", 10, 20))
    await timeline.admit(L, booking("b2", 15, 30, Need(frozenset({T2}))))
    segments = [(s.start, s.end, s.spare) for s in await timeline.spare(
        L, Need(frozenset({T2})), at(0), at(40))]
    # b1 may use any EVSE; for a T2 need the set {T2} carries b2 only, {T2, CCS} both.
    # Equal neighbouring segments are merged (15..20 and 20..30 both leave one).
    assert segments == [(at(0), at(15), 2), (at(15), at(30), 1), (at(30), at(40), 2)]
    with_reserve = await timeline.spare(L, Need(), at(0), at(40), reserve=1)
    assert [(s.start, s.end, s.spare) for s in with_reserve] == [
        (at(0), at(10), 2), (at(10), at(15), 1), (at(15), at(20), 0), (at(20), at(30), 1),
        (at(30), at(40), 2)]


async def test_rebuild_replaces_the_site_and_admission_sees_it(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("gone", 0, 60))).ok
    assert await timeline.rebuild(L, [booking("b1", 100, 160), bound("r1", "E1", 0, 30)]) == 2
    assert await timeline.get(L, "gone") is None
    assert (await timeline.admit(L, booking("x", 20, 40))).verdict is Verdict.FULL
    assert (await timeline.admit(L, booking("y", 30, 100))).ok
    assert (await timeline.admit(L, booking("z", 150, 170))).verdict is Verdict.FULL


async def test_restore_sets_the_supply_and_adds_only_what_the_site_lacks(
        timeline: CapacityTimeline) -> None:
    # A site the timeline never had (or lost): the supply and the stored promises at once.
    assert await timeline.restore(L, [ac("E1"), ac("E2")],
                                  [booking("b1", 0, 60), bound("r1", "E1", 0, 30)]) == 2
    assert (await timeline.admit(L, booking("x", 10, 20))).verdict is Verdict.FULL
    # Another instance admitted meanwhile; a second restore keeps it and the first ones.
    assert (await timeline.admit(L, booking("b2", 60, 90))).ok
    assert await timeline.restore(L, [ac("E1"), ac("E2")],
                                  [booking("b1", 0, 60), booking("b3", 200, 230)]) == 1
    ids = [p.promise_id for p in await timeline.promises(L, at(0), at(300))]
    assert sorted(ids) == ["b1", "b2", "b3", "r1"]
    # A stored promise under an id the site holds does not replace it.
    assert await timeline.restore(L, [ac("E1"), ac("E2")], [booking("b2", 0, 10)]) == 0
    assert await timeline.get(L, "b2") == booking("b2", 60, 90)
    # The supply is the new one: a third EVSE makes room.
    assert await timeline.restore(L, [ac("E1"), ac("E2"), ac("E3")], []) == 0
    assert (await timeline.admit(L, booking("x", 10, 20))).ok


async def test_a_restored_long_promise_is_found_from_inside(
        timeline: CapacityTimeline) -> None:
    # Range reads go back by the longest promise stored: the restore must widen it.
    await timeline.set_supply(L, [ac("E1")])
    assert await timeline.restore(L, [ac("E1")], [booking("long", 0, 600)]) == 1
    assert [p.promise_id for p in await timeline.promises(L, at(500), at(510))] == ["long"]
    assert (await timeline.admit(L, booking("x", 500, 510))).verdict is Verdict.FULL
    # ... and never narrows it.
    assert await timeline.restore(L, [ac("E1")], [booking("short", 700, 710)]) == 1
    assert [p.promise_id for p in await timeline.promises(L, at(500), at(510))] == ["long"]


async def test_prune_drops_ended_promises(timeline: CapacityTimeline, clock: Clock) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    for n in range(3):
        assert (await timeline.admit(L, booking(f"b{n}", n * 10, n * 10 + 15))).ok
    clock.advance(26)
    assert await timeline.prune(L, clock()) == 2
    assert [p.promise_id for p in await timeline.promises(L, at(0), at(100))] == ["b2"]


async def test_sites_are_separate(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    await timeline.set_supply("LOC-2", [ac("E1")])
    assert (await timeline.admit(L, booking("b1", 0, 60))).ok
    assert (await timeline.admit("LOC-2", booking("b1", 0, 60))).ok
    assert await timeline.release("LOC-2", "b1")
    assert await timeline.get(L, "b1") is not None


async def test_concurrent_admissions_never_overbook(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2"), ac("E3")])
    results = await asyncio.gather(*(timeline.admit(L, booking(f"b{n}", n, 60 + n))
                                     for n in range(20)))
    assert sum(r.ok for r in results) == 3


async def test_two_instances_sharing_redis_never_overbook(redis_url: str, clock: Clock) -> None:
    first = RedisCapacity.from_url(redis_url, clock=clock)
    second = RedisCapacity.from_url(redis_url, clock=clock)
    try:
        await first.set_supply(L, [ac("E1"), ac("E2")])
        results = await asyncio.gather(*(
            (first if n % 2 else second).admit(L, booking(f"b{n}", 0, 60))
            for n in range(10)))
        assert sum(r.ok for r in results) == 2
        assert len(await second.promises(L, at(0), at(60))) == 2
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("reserve", [0, 1])
async def test_every_class_keeps_its_walk_in_reserve(timeline: CapacityTimeline,
                                                     reserve: int) -> None:
    # Two AC and one DC EVSE: with a reserve of 1 a DC promise never fits (one DC EVSE).
    await timeline.set_supply(L, [ac("A1"), ac("A2"), dc("D1")])
    verdict = (await timeline.admit(L, booking("dc", 0, 60, Need(frozenset({CCS})))
                                    , reserve=reserve)).verdict
    assert verdict is (Verdict.FULL if reserve else Verdict.ADMITTED)
