"""How one binder run goes through the due bookings: several bindings side by side (each
waits for its charger's answer), never more than ``concurrency``; one that fails leaves the
others to be bound; the binding keeps the hold's promise (to the no-show time) on the EVSE;
a site running short of free fitting EVSEs gets its next bookings bound early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, ReserveNow
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.records import Booking, BookingChoice
from ocpi_gateway.reservation_policy.bookings.shortage import to_bind_early
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses, supply_of
from ocpi_gateway.reservation_policy.models import ConnectorInfo
from tests.bookings.binding import BindingSite, ExpiringChargers
from tests.bookings.support import Clock, at, booking
from tests.policy.support import evse


@dataclass
class GatedChargers(ExpiringChargers):
    """Each ReserveNow waits until ``want`` are in flight together (or a short while, so
    that a binder sending them one at a time fails the test instead of hanging it)."""

    want: int = 1
    in_flight: int = 0
    peak: int = 0
    together: asyncio.Event = field(default_factory=asyncio.Event)

    async def _execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        if isinstance(command, ReserveNow):
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.in_flight >= self.want:
                self.together.set()
            try:
                await asyncio.wait_for(self.together.wait(), 0.3)
            except TimeoutError:
                pass
            finally:
                self.in_flight -= 1
        return await super()._execute(command, timeout)


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                          evses=6).ready()
    yield s
    await s.close()


async def test_a_run_binds_side_by_side_up_to_its_concurrency(
        site: BindingSite, clock: Clock) -> None:
    site.chargers = GatedChargers(clock=clock, want=3)
    gw = site.instance()
    gw.binder.concurrency = 3
    due = [await site.book(gw, f"R{i}", start=600) for i in range(6)]
    clock.now = at(590)
    report = await gw.binder.run()
    await gw.reservations.drain()
    assert site.chargers.peak == 3
    assert sorted(report.bound) == sorted(b.key for b in due)
    bound = [await site.booking(b.key) for b in due]
    assert sorted(b.evse_uid or "" for b in bound) == [f"E00{i}" for i in range(6)]


async def test_one_at_a_time_when_its_concurrency_is_one(
        site: BindingSite, clock: Clock) -> None:
    site.chargers = GatedChargers(clock=clock, want=2)
    gw = site.instance()
    gw.binder.concurrency = 1
    due = [await site.book(gw, f"R{i}", start=600) for i in range(3)]
    clock.now = at(590)
    report = await gw.binder.run()
    assert site.chargers.peak == 1
    assert sorted(report.bound) == sorted(b.key for b in due)


async def test_a_booking_whose_binding_fails_leaves_the_others_bound(
        site: BindingSite, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = site.instance()
    gw.binder.concurrency = 1  # in the store's order: the failing one comes first
    due = [await site.book(gw, f"R{i}", start=600 + i) for i in range(3)]
    bind = gw.binder.bind

    async def failing_first(booking: Booking) -> Booking | None:
        if booking.key == due[0].key:
            raise RuntimeError("the store went away for this one")
        return await bind(booking)

    monkeypatch.setattr(gw.binder, "bind", failing_first)
    clock.now = at(593)
    report = await gw.binder.run()
    await gw.reservations.drain()
    assert sorted(report.bound) == sorted(b.key for b in due[1:])
    assert not (await site.booking(due[0].key)).bound
    assert len(site.chargers.reserve_nows()) == 2


async def test_a_slot_shorter_than_the_noshow_timeout_keeps_its_hold_to_the_noshow_time(
        site: BindingSite, clock: Clock) -> None:
    """Regression: binding moved the promise onto the EVSE until the no-show time (the
    ReserveNow's expiry) + buffer, then cut it back to the slot's end + buffer, so the EVSE
    looked free on the timeline while the charger still held it."""
    gw = site.instance()
    b = await site.book(gw, start=600, minutes=5)  # ends 605; the no-show time is 615
    clock.now = at(590)
    await gw.run()
    bound = await site.booking(b.key)
    assert bound.evse_uid is not None
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert (p.evse_uid, p.start, p.end) == (bound.evse_uid, at(590), at(625))


async def test_a_site_running_short_binds_the_next_bookings_early(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    """Walk-ins beyond the reserve took EVSEs the next bookings were promised: when the free
    fitting EVSEs are no more than the bookings due within ``early_within``, those bookings
    are bound now, each holding one (counted on the timeline from now)."""
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                             evses=3).ready()
    try:
        gw = site.instance()
        due = [await site.book(gw, f"R{i}", start=600) for i in range(2)]  # bound at 590
        later = await site.book(gw, "R2", start=700)  # due in more than an hour: not yet
        clock.now = at(560)
        await gw.run()
        assert site.chargers.reserve_nows() == []  # three free for two: walk-ins may come
        await site.set_status("E000", EvseStatus.CHARGING)  # a walk-in
        clock.now = at(561)
        report = await gw.binder.run()
        await gw.reservations.drain()
        assert sorted(report.early) == sorted(b.key for b in due) and report.occupied == []
        bound = [await site.booking(b.key) for b in due]
        assert sorted(b.evse_uid or "" for b in bound) == ["E001", "E002"]
        assert {b.bound_at for b in bound} == {at(561)}
        assert [s.expiry for s in site.chargers.reserve_nows()] == [at(615), at(615)]
        promises = {p.promise_id: p for p in await site.timeline.promises("LOC1", at(0),
                                                                           at(1000))}
        assert {promises[b.promise_id].start for b in bound} == {at(561)}
        assert not (await site.booking(later.key)).bound
        assert site.seen.occupied == [] and {late for _, late in site.seen.bound} == {0.0}
    finally:
        await site.close()


async def test_no_early_binding_when_its_window_is_zero(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                             evses=2).ready()
    try:
        gw = site.instance()
        gw.binder.early_within = timedelta(0)
        b = await site.book(gw, start=600)
        await site.set_status("E000", EvseStatus.CHARGING)
        clock.now = at(561)
        await gw.run()
        assert not (await site.booking(b.key)).bound and site.chargers.reserve_nows() == []
        clock.now = at(590)
        await gw.run()
        assert (await site.booking(b.key)).evse_uid == "E001"
    finally:
        await site.close()


def test_only_the_bookings_that_compete_for_the_last_fitting_evses_are_bound_early() -> None:
    ac, dc = ("IEC_62196_T2",), ("IEC_62196_T2_COMBO",)
    table = SiteClasses.build(supply_of([
        evse("A1", "CP1"), evse("A2", "CP1", evse_id=2),
        evse("D1", "CP2", connectors=(ConnectorInfo("IEC_62196_T2_COMBO", 150000, "DC"),))]))
    first, second = (booking(f"AC{i}", start=600 + i, choice=BookingChoice(connector_types=ac))
                     for i in range(2))
    fast = booking("DC0", start=600, choice=BookingChoice(connector_types=dc))
    # Two AC bookings, one AC EVSE free: the earlier one holds it; the DC one has its EVSE
    # to itself (one free, one wanting it: bound too).
    assert to_bind_early([first, second, fast], {"A2", "D1"}, table) == [first, fast]
    # Both AC EVSEs free for the two AC bookings: no slack, both bound; none for DC free.
    assert to_bind_early([first, second, fast], {"A1", "A2"}, table) == [first, second]
    # Slack left: nothing bound early.
    assert to_bind_early([first], {"A1", "A2"}, table) == []


def test_an_evse_whose_promise_ends_before_the_binding_time_counts_as_free_by_then() -> None:
    table = SiteClasses.build(supply_of([evse("A1", "CP1"), evse("A2", "CP1", evse_id=2)]))
    b = booking("AC0", start=600)  # bound at 590
    assert to_bind_early([b], {"A1"}, table) == [b]  # the last free one: held now
    # A2's reservation (and buffer) ends at 580: two for one by then, nothing held early.
    assert to_bind_early([b], {"A1"}, table, {"A2": at(580)}) == []
    # Ending only after the binding time, it does not help.
    assert to_bind_early([b], {"A1"}, table, {"A2": at(591)}) == [b]
