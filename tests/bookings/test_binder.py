"""Late binding: at start - activation lead the binder makes the booking a reservation on one
free fitting EVSE (ReserveNow until start + no-show timeout, the booking's own promise moved
onto that EVSE), tries again while every fitting EVSE is occupied and gives up (CANCELED, FULL)
at the no-show time; the booking then follows its reservation (used → FULFILLED, expired →
NO_SHOW, fault → re-routed or CANCELED BROKEN_CHARGER), and a cancelled booking gives its
reservation back at the charger. Several instances, or one restarted mid-binding, bind once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    TransactionStarted,
)
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.binder import binding_request
from ocpi_gateway.reservation_policy.bookings.records import BookingChoice
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
)
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, PromiseKind
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.bookings.binding import BindingSite
from tests.bookings.support import Clock, at, booking


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock).ready()
    yield s
    await s.close()


def test_the_binding_reservation_runs_to_the_noshow_time_with_the_first_token() -> None:
    b = booking(power_required_kw=11, choice=BookingChoice(connector_types=("IEC_62196_T2",)))
    r = binding_request(b)
    assert (r.expiry, r.token_uid, r.booking_key) == (at(615), "TOK1", b.key)
    assert (r.connector_standard, r.min_power_w, r.evse_uid) == ("IEC_62196_T2", 11000, None)
    several = binding_request(booking(choice=BookingChoice(
        evse_uid="E001", connector_types=("IEC_62196_T2", "CHADEMO"))))
    assert (several.connector_standard, several.min_power_w, several.evse_uid) == (
        None, None, "E001")
    untokened = binding_request(booking(tokens=()))
    assert (untokened.token_uid, untokened.token_type) == ("AUTH1", "AD_HOC_USER")


async def test_bound_at_activation_onto_a_free_evse_with_its_own_promise(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(589)
    await gw.run()
    assert site.chargers.reserve_nows() == []  # not due yet
    clock.now = at(590)
    await gw.run()
    [sent] = site.chargers.reserve_nows()
    bound = await site.booking(b.key)
    assert bound.state is BookingState.RESERVED and bound.bound_at == at(590)
    assert (bound.evse_uid, bound.charge_point_id, bound.ocpp_reservation_id) == (
        "E000", sent.charge_point_id, sent.reservation_id)
    assert sent.expiry == at(615) and sent.id_token == "TOK1"
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.ACTIVE and r.booking_key == b.key
    # One promise, the booking's, now on the EVSE; no second one for the reservation.
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert (p.promise_id, p.evse_uid, p.kind) == (b.promise_id, "E000", PromiseKind.BOOKING)
    assert (p.start, p.end) == (at(590), at(670))
    assert site.seen.bound == [(b.key, 0.0)]
    assert (await site.avail.location("LOC1"))["E000"].holder == r.key
    await gw.run()  # nothing more to do
    assert len(site.chargers.reserve_nows()) == 1


async def test_an_evse_free_now_is_preferred_over_one_still_charging(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    await site.set_status("E000", EvseStatus.CHARGING)
    clock.now = at(590)
    await gw.run()
    assert (await site.booking(b.key)).evse_uid == "E001"


async def test_occupied_at_binding_is_tried_again_until_the_noshow_time(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    first = await site.book(gw, "R1")
    late = await site.book(gw, "R2")
    for uid in ("E000", "E001"):
        await site.set_status(uid, EvseStatus.CHARGING)
    clock.now = at(590)
    await gw.run()
    assert site.seen.occupied == [first.key, late.key]
    assert not (await site.booking(first.key)).bound
    # The promises went back to the class: both still counted, neither on an EVSE.
    assert [p.evse_uid for p in await site.timeline.promises("LOC1", at(0), at(1000))] == [
        None, None]
    await site.set_status("E001", EvseStatus.AVAILABLE)  # the previous driver left
    clock.now = at(600)
    await gw.run()
    assert (await site.booking(first.key)).evse_uid == "E001"
    assert site.seen.bound == [(first.key, 600.0)]
    clock.now = at(615)
    await gw.run()
    given_up = await site.booking(late.key)
    assert given_up.state is BookingState.CANCELED and given_up.canceled is not None
    assert (given_up.canceled.reason, given_up.canceled.by) == (CancelReason.FULL,
                                                                CanceledBy.CPO)
    assert "occupied" in (given_up.message or "")
    assert site.seen.gave_up == [late.key]
    assert [p.promise_id for p in await site.timeline.promises("LOC1", at(0), at(1000))
            ] == [first.promise_id]


async def test_a_session_with_the_reservation_id_fulfils_it(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    bound = await site.booking(b.key)
    assert bound.charge_point_id is not None
    clock.now = at(598)
    await gw.event(TransactionStarted(charge_point_id=bound.charge_point_id,
                                      transaction_id="T1", evse_id=1, connector_id=1,
                                      id_token="TOK1",
                                      reservation_id=bound.ocpp_reservation_id))
    done = await site.booking(b.key)
    assert done.state is BookingState.FULFILLED
    assert await site.promised(at(0), at(1000)) == []
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.USED


async def test_nobody_by_the_noshow_time_is_a_no_show(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    clock.now = at(614)
    assert await gw.reservations.expire_due() == 0
    clock.now = at(615)
    assert await gw.reservations.expire_due() == 1
    await gw.reservations.drain()
    ended = await site.booking(b.key)
    assert ended.state is BookingState.NO_SHOW
    assert await site.timeline.promises("LOC1", at(0), at(1000)) == []
    assert not (await site.avail.location("LOC1"))["E000"].holder
    # The charger is told too (its clock is not ours).
    assert [c.reservation_id for c in site.chargers.cancels()] == [ended.ocpp_reservation_id]


async def test_a_missed_end_is_settled_by_the_next_run(
        site: BindingSite, clock: Clock) -> None:
    """The instance that expired the reservation died before the booking followed."""
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    r = await site.reservation(b)
    assert r is not None
    await gw.reservations.repo.transition(r, ReservationState.EXPIRED, reason="test")
    clock.now = at(616)
    await gw.run()
    assert (await site.booking(b.key)).state is BookingState.NO_SHOW


async def test_a_fault_moves_the_binding_within_the_class_then_cancels(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    assert (await site.booking(b.key)).evse_uid == "E000"
    await site.set_status("E000", EvseStatus.OUTOFORDER)
    await gw.event(ConnectorStatusChanged(charge_point_id="CP000", evse_id=1, connector_id=1,
                                          status=ConnectorStatus.FAULTED))
    moved = await site.booking(b.key)
    assert (moved.state, moved.evse_uid, moved.charge_point_id) == (
        BookingState.RESERVED, "E001", "CP001")
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert p.evse_uid == "E001"
    await site.set_status("E001", EvseStatus.OUTOFORDER)
    await gw.event(ConnectorStatusChanged(charge_point_id="CP001", evse_id=1, connector_id=1,
                                          status=ConnectorStatus.FAULTED))
    ended = await site.booking(b.key)
    assert ended.state is BookingState.CANCELED and ended.canceled is not None
    assert ended.canceled.reason is CancelReason.BROKEN_CHARGER
    assert await site.timeline.promises("LOC1", at(0), at(1000)) == []


async def test_a_cancelled_bound_booking_gives_its_reservation_back(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    bound = await site.booking(b.key)
    await gw.bookings.ledger.transition(bound, BookingState.CANCELED, reason="eMSP")
    await gw.reservations.drain()
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.CANCELLED
    assert [c.reservation_id for c in site.chargers.cancels()] == [bound.ocpp_reservation_id]
    assert not (await site.avail.location("LOC1"))["E000"].holder


async def test_two_instances_bind_once(site: BindingSite, clock: Clock) -> None:
    one, two = site.instance(), site.instance()
    bookings = [await site.book(one, f"R{i}") for i in range(2)]
    site.chargers.jitter = 0.01
    clock.now = at(590)
    await asyncio.gather(one.run(), two.run(), one.run(), two.run())
    await asyncio.gather(one.run(), two.run())
    sent = site.chargers.reserve_nows()
    assert len(sent) == 2, sent
    evses = {(await site.booking(b.key)).evse_uid for b in bookings}
    assert evses == {"E000", "E001"}
    assert len(site.chargers.reservations) == 2


async def test_a_crash_during_binding_binds_once_after_restart(
        site: BindingSite, clock: Clock) -> None:
    """The ReserveNow reached the charger; the instance died before its answer."""
    gw = site.instance()
    b = await site.book(gw)
    site.chargers.answer_after = asyncio.Event()
    clock.now = at(590)
    task = asyncio.create_task(gw.binder.run())
    site.chargers.sending.clear()
    await asyncio.wait_for(site.chargers.sending.wait(), 5)
    task.cancel()  # the crash: nothing after the send ran
    await asyncio.gather(task, return_exceptions=True)
    await gw.reservations.aclose()
    site.chargers.answer_after = None
    restarted = site.instance()
    clock.now = at(591)
    await restarted.reservations.recovery.sweep()  # the abandoned attempt settled
    await restarted.reservations.drain()
    await restarted.run()
    bound = await site.booking(b.key)
    assert bound.bound
    # At the charger: exactly the bound reservation, the first one withdrawn.
    assert list(site.chargers.reservations) == [(bound.charge_point_id,
                                                 bound.ocpp_reservation_id)]
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert p.evse_uid == bound.evse_uid



async def test_one_run_binds_every_due_booking_past_the_first_page(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    """Regression: the run read one page of the store's due bookings, so more due than a
    page waited for later runs (10,000 due in one minute came nowhere near)."""
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                             evses=5).ready()
    try:
        gw = site.instance(page_size=2)
        due = [await site.book(gw, f"R{i}", start=600 + i) for i in range(5)]
        clock.now = at(594)
        report = await gw.binder.run()
        await gw.reservations.drain()
        assert sorted(report.bound) == sorted(b.key for b in due)
        assert len(site.chargers.reserve_nows()) == 5
        assert {(await site.booking(b.key)).evse_uid for b in due} == {
            f"E00{i}" for i in range(5)}
    finally:
        await site.close()


async def test_occupied_bookings_on_the_first_page_do_not_starve_later_ones(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    """Regression: bookings tried again (their EVSE still charging) stayed first in the
    store's order, and a run never reached the due booking after them."""
    site = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                             evses=3).ready()
    try:
        gw = site.instance(page_size=2)
        stuck = [await site.book(gw, f"R{i}", start=600,
                                 choice=BookingChoice(evse_uid=f"E00{i}")) for i in range(2)]
        later = await site.book(gw, "R2", start=605, choice=BookingChoice(evse_uid="E002"))
        for b in stuck:
            await site.set_status(b.choice.evse_uid if b.choice else "", EvseStatus.CHARGING)
        clock.now = at(595)
        await gw.run()
        assert (await site.booking(later.key)).evse_uid == "E002"
        assert sorted(site.seen.occupied) == sorted(b.key for b in stuck)
        assert [(await site.booking(b.key)).bound for b in stuck] == [False, False]
    finally:
        await site.close()
