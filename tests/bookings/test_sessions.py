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
from ocpi_gateway.reservation_policy.bookings.states import BookingState, CancelReason
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, PromiseKind
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
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
    # E001's end went unreported (the EVSE shows free): it leaves at its estimate; E000 is
    # kept a quarter hour ahead from half of that before its estimate.
    await site.set_status("E001", EvseStatus.AVAILABLE)
    clock.now = at(52.4)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(60)), "E001": (at(0), at(60))}
    clock.now = at(52.5)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(67.5))}
    await gw.bookings.capacity.restore("LOC1", site.candidates)  # E001 is not known now
    assert await sessions(site) == {"E000": (at(0), at(67.5))}
    clock.now = at(65)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(80))}
    # What a restore puts back is the session as extended, without the one dropped.
    await site.timeline.rebuild("LOC1", [])
    await gw.bookings.capacity.restore("LOC1", site.candidates)
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



async def test_a_run_goes_through_every_session(site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E000", "T0")  # dropped at 55: shown free
    clock.now = at(20)
    await start(site, gw, "E001", "T1")  # not due at 55
    clock.now = at(0)
    await start(site, gw, "E002", "T2")  # extended at 55
    await site.set_status("E000", EvseStatus.AVAILABLE)
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E001": (at(20), at(80)), "E002": (at(0), at(70))}


async def test_a_car_is_believed_for_a_day_at_most(site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    for i in range(4):  # one short of a history
        clock.now = at(10 * i - 100)
        await start(site, gw, "E001", f"S{i}")
        clock.now = at(10 * i - 95)
        await end(site, gw, "E001", f"S{i}")
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    clock.now = at(24 * 60 - 53)
    await start(site, gw, "E002", "T2")  # due at the same run as E000's day is over
    clock.now = at(24 * 60 - 7)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(24 * 60)),
                                    "E002": (at(24 * 60 - 53), at(24 * 60 + 7))}
    clock.now = at(24 * 60)
    await gw.run()
    assert await sessions(site) == {"E002": (at(24 * 60 - 53), at(24 * 60 + 15))}
    # Forgotten: its end, reported at last, is no session of the site's history.
    await end(site, gw, "E000", "T0")
    assert gw.sessions.expected("LOC1") == gw.sessions.default
    await site.timeline.rebuild("LOC1", [])
    await gw.bookings.capacity.restore("LOC1", site.candidates)
    assert set(await sessions(site)) == {"E002"}


async def test_a_restore_at_a_sessions_estimate_leaves_it_out(site: BindingSite, clock: Clock
                                                             ) -> None:
    gw = site.instance()
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    clock.now = at(60)  # no run since: not extended
    await site.timeline.rebuild("LOC1", [])
    await gw.bookings.capacity.restore("LOC1", site.candidates)
    assert await sessions(site) == {}


async def test_short_sessions_are_still_expected_a_quarter_hour(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    for i in range(5):
        clock.now = at(10 * i)
        await start(site, gw, "E000", f"T{i}")
        clock.now = at(10 * i + 5)
        await end(site, gw, "E000", f"T{i}")
    clock.now = at(100)
    await start(site, gw, "E001", "T9")
    assert await sessions(site) == {"E001": (at(100), at(115))}


async def test_the_estimate_follows_the_last_50_sessions(site: BindingSite, clock: Clock
                                                        ) -> None:
    gw = site.instance()
    # 26 of 100 min, then 25 of 10 min: of the last 50, half and half (median 55 min).
    for i, minutes in enumerate([100] * 26 + [10] * 25):
        clock.now = at(200 * i)
        await start(site, gw, "E000", f"T{i}")
        clock.now = at(200 * i + minutes)
        await end(site, gw, "E000", f"T{i}")
    assert gw.sessions.expected("LOC1").total_seconds() == 55 * 60


@pytest.mark.parametrize(("rid", "id_token", "minute", "booked"), [
    (True, "SOMEONE-ELSE", 598, True),  # the binding's reservation id decides
    (False, "TOK1", 598, True),  # a booking token in the use window
    (False, "TOK1", 580, False),  # the same card before the window: a walk-in
    (False, "SOMEONE-ELSE", 598, False),
])
async def test_which_sessions_used_a_booking(site: BindingSite, clock: Clock, rid: bool,
                                             id_token: str, minute: float, booked: bool
                                             ) -> None:
    gw = site.instance()
    b = await site.bound(gw)
    assert b.evse_uid == "E000" and b.ocpp_reservation_id is not None
    clock.now = at(minute)
    # With the reservation id on the bound EVSE; with a token on the other one.
    uid = "E000" if rid else "E001"
    await start(site, gw, uid, "TX", id_token, b.ocpp_reservation_id if rid else None)
    until = at(670) if booked else at(minute + 60)
    assert (await sessions(site))[uid] == (at(minute), until)


@pytest.mark.parametrize("evse_id", [1, 2])
async def test_a_charger_with_evses_at_two_sites(store: DocumentStore,
                                                 timeline: CapacityTimeline, clock: Clock,
                                                 evse_id: int) -> None:
    # LOC0 first (A, EVSE 1: no bookings there), then LOC1 (B, EVSE 2).
    candidates = [evse("A", "CPX", location="LOC0", evse_id=1),
                  evse("B", "CPX", location="LOC1", evse_id=2),
                  evse("C", "CPX", location="LOC0", evse_id=3)]
    policy = PolicySource(policy=parse_policy({
        "defaults": {"min_duration_minutes": 1, "ordering": [], "bookings": {"enabled": True}},
        "locations": {"LOC0": {"bookings": {"enabled": False}}}}))
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                             candidates=candidates, policy=policy).ready()
    try:
        gw = site.instance()
        clock.now = at(0)
        await gw.event(TransactionStarted(charge_point_id="CPX", transaction_id="T",
                                          evse_id=evse_id, connector_id=1, id_token="WALK"))
        assert await sessions(site) == ({"B": (at(0), at(60))} if evse_id == 2 else {})
        assert await site.timeline.promises("LOC0", at(-600), at(2000)) == []
    finally:
        await site.close()


async def test_a_booking_that_ended_is_no_booking_a_session_used(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    gone = await site.book(gw, "R0", start=590)  # the same token, its window [585, 605]
    await gw.bookings.cancel_by_cpo(gone, CancelReason.UNKNOWN, reason="test")
    b = await site.bound(gw)  # R1 at 600 on E000
    clock.now = at(598)
    await start(site, gw, "E001", "TX", "TOK1")
    assert (await sessions(site))["E001"] == (at(598), at(670))
    assert (await site.booking(b.key)).state is BookingState.FULFILLED
