"""Sessions in progress on the capacity timeline (``bookings.sessions``), over both timeline
backends and both stores, the test's clock: a walk-in is expected busy for the site's median
session (an hour before there is a history), a session that used a booking until the
booking's promise ends; each binder run extends a car charging past its estimate and drops
one whose EVSE shows free; a restore puts the sessions known here back; and a binding is
never refused for cars that came after its booking was admitted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from ocpi_gateway.domain.events import TransactionEnded, TransactionStarted
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.sessions import evse_of
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, PromiseKind
from tests.bookings.binding import BindingSite, Instance
from tests.bookings.support import Clock, at, booking
from tests.policy.support import evse, grid


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock, evses=3,
                          walk_in_reserve=1).ready()
    yield s
    await s.close()


async def start(site: BindingSite, gw: Instance, uid: str, tx: str, id_token: str = "WALK",
                reservation_id: int | None = None) -> None:
    c = next(c for c in site.candidates if c.evse_uid == uid)
    await site.set_status(uid, EvseStatus.CHARGING)
    await gw.event(TransactionStarted(
        charge_point_id=c.charge_point_id, transaction_id=tx, evse_id=c.address.evse_id,
        connector_id=1, id_token=id_token, reservation_id=reservation_id))


async def end(site: BindingSite, gw: Instance, uid: str, tx: str) -> None:
    c = next(c for c in site.candidates if c.evse_uid == uid)
    await site.set_status(uid, EvseStatus.AVAILABLE)
    await gw.event(TransactionEnded(charge_point_id=c.charge_point_id, transaction_id=tx))


async def sessions(site: BindingSite) -> dict[str, tuple[datetime, datetime]]:
    return {p.evse_uid or "": (p.start, p.end)
            for p in await site.timeline.promises("LOC1", at(-600), at(2000))
            if p.kind is PromiseKind.SESSION}


async def test_a_walk_in_is_expected_busy_for_the_sites_median_session(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    assert await sessions(site) == {"E000": (at(0), at(60))}  # no history: an hour
    # Five sessions end (20..100 min): the median, 40, is the next one's estimate.
    for i, minutes in enumerate((20, 100, 30, 50, 40)):
        clock.now = at(100 * i)
        if i:
            await start(site, gw, "E000", f"T{i}")
        clock.now = at(100 * i + minutes)
        await end(site, gw, "E000", f"T{i}")
        assert await sessions(site) == {}
    clock.now = at(600)
    await start(site, gw, "E001", "T9")
    assert await sessions(site) == {"E001": (at(600), at(640))}
    assert gw.sessions.expected("LOC2") == gw.sessions.default


async def test_a_session_that_used_its_booking_ends_with_the_bookings_promise(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.bound(gw)
    assert b.evse_uid is not None and b.ocpp_reservation_id is not None
    clock.now = at(598)
    await start(site, gw, b.evse_uid, "TB", "TOK1", b.ocpp_reservation_id)
    assert (await site.booking(b.key)).state is BookingState.FULFILLED
    # The booking's promise is given back; the car holds the EVSE to slot end + buffer.
    assert await sessions(site) == {b.evse_uid: (at(598), at(670))}
    [only] = await site.timeline.promises("LOC1", at(0), at(2000))
    assert only.kind is PromiseKind.SESSION


async def test_each_run_extends_a_car_past_its_estimate_and_drops_one_shown_free(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    await start(site, gw, "E001", "T1")
    clock.now = at(40)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(60)), "E001": (at(0), at(60))}
    # E001's end went unreported (the EVSE shows free): it leaves at its estimate.
    await site.set_status("E001", EvseStatus.AVAILABLE)
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(70))}
    clock.now = at(65)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(80))}
    await end(site, gw, "E000", "T0")
    assert await sessions(site) == {}
    await gw.run()
    assert await sessions(site) == {}


async def test_a_binding_is_not_refused_for_cars_that_came_after_its_booking(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    # Three EVSEs, one kept for walk-ins: two bookings at 10:00 fill what may be promised.
    first = await site.book(gw, "R1")
    second = await site.book(gw, "R2")
    # A walk-in beyond the reserve at 09:40: more cars than the promises left room for.
    clock.now = at(580)
    await start(site, gw, "E002", "TW")
    refused = await gw.bookings.reserve_promise(booking("R3", start=630))
    assert not refused.ok  # a new booking counts the car (busy until 10:40)...
    clock.now = at(590)
    await gw.run()
    # ... the bindings of those admitted before it do not.
    assert {(await site.booking(b.key)).evse_uid for b in (first, second)} == {"E000",
                                                                              "E001"}
    assert site.seen.occupied == []


async def test_a_restore_puts_back_the_sessions_known_here(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E001", "T1")
    await site.timeline.rebuild("LOC1", [])  # the timeline lost what it held
    assert await sessions(site) == {}
    await gw.bookings.capacity.restore("LOC1", site.candidates)
    assert await sessions(site) == {"E001": (at(0), at(60))}


async def test_a_transaction_on_an_unknown_evse_or_a_site_without_bookings_is_ignored(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    await gw.event(TransactionStarted(charge_point_id="CP000", transaction_id="X",
                                      evse_id=9, connector_id=1, id_token="WALK"))
    await gw.event(TransactionStarted(charge_point_id="CP-ELSEWHERE", transaction_id="Y",
                                      evse_id=1, connector_id=1, id_token="WALK"))
    await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="never-started"))
    assert await sessions(site) == {}


def test_the_evse_of_a_transaction() -> None:
    two = grid(4, per_charger=2)  # 2.0.1: CP000 evse 1, 2; CP001 evse 1, 2
    assert evse_of(two, "CP000", 2, 1) is two[1]
    assert evse_of(two, "CP001", 1, None) is two[2]
    assert evse_of(two, "CP000", None, None) is None  # two EVSEs: which?
    old = [evse("A", "CP16", evse_id=None, connector_id=1),
           evse("B", "CP16", evse_id=None, connector_id=2)]
    assert evse_of(old, "CP16", None, 2) is old[1]
    assert evse_of(old, "CP16", 1, None) is None
    single = [evse("S", "CP9", evse_id=1)]
    assert evse_of(single, "CP9", None, None) is single[0]
    assert evse_of(single, "CP8", 1, 1) is None


@pytest.mark.parametrize(("walk_in_at", "early"), [(500, False), (535, True)])
async def test_a_car_expected_to_leave_before_the_binding_time_counts_as_freeing(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock, walk_in_at: float,
        early: bool) -> None:
    """Two EVSEs, a booking at 10:00 (bound at 09:50), a walk-in on E001 expected for an
    hour: at 09:00 the site runs short only if the car is expected still there at 09:50."""
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock).ready()
    try:
        gw = site.instance()
        b = await site.book(gw)
        clock.now = at(walk_in_at)
        await start(site, gw, "E001", "TW")
        clock.now = at(540)
        report = await gw.binder.run()
        assert report.early == ([b.key] if early else [])
        assert (await site.booking(b.key)).evse_uid == ("E000" if early else None)
    finally:
        await site.close()


async def test_a_new_transaction_on_an_evse_replaces_one_whose_end_went_unreported(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E000", "T-lost")
    clock.now = at(30)
    await start(site, gw, "E000", "T-new")
    assert await sessions(site) == {"E000": (at(30), at(90))}
    # The lost one's end, reported late, neither ends the new one nor joins the history...
    await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="T-lost"))
    assert await sessions(site) == {"E000": (at(30), at(90))}
    # ... nor does a run at its estimate, with the EVSE charging: only the new one is kept.
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E000": (at(30), at(90))}
