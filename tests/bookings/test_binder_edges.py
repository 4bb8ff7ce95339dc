"""The binder's edges the end-to-end binder tests leave open: the promise a binding moves
(long enough for the hold), what one run reports, the no-show instant itself, and the ends
of a binding's reservation that are neither used nor expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import Booking, BookingChoice
from ocpi_gateway.reservation_policy.bookings.service import BindResult, promise_of
from ocpi_gateway.reservation_policy.bookings.states import BookingState, CancelReason
from ocpi_gateway.reservation_policy.capacity.base import Admission, CapacityTimeline, Verdict
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationState,
    booked_reservation_id,
    reservation_key,
)
from tests.bookings.binding import BindingSite
from tests.bookings.support import Clock, at


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock).ready()
    yield s
    await s.close()


async def test_the_moved_promise_lasts_as_long_as_the_hold(site: BindingSite) -> None:
    gw = site.instance()
    # A 10 min slot (600..610): its promise ends at 620 with the 10 min buffer; a hold to
    # 640 needs it to 650, a hold to 600 leaves it at 620.
    b = await site.book(gw, minutes=10)
    long = await gw.binder.booked_promise(b.key, "E001", at(640))
    assert long is not None
    assert (long.promise_id, long.start, long.end, long.evse_uid) == (
        b.promise_id, at(590), at(650), "E001")
    short = await gw.binder.booked_promise(b.key, "E000", at(600))
    assert short is not None and (short.end, short.evse_uid) == (at(620), "E000")
    assert await gw.binder.booked_promise("NL*EXA*nobody", "E000", at(640)) is None
    canceled = await gw.bookings.ledger.transition(b, BookingState.CANCELED, reason="eMSP")
    assert canceled is not None
    assert await gw.binder.booked_promise(b.key, "E000", at(640)) is None


async def test_a_run_reports_what_it_bound_found_occupied_and_ended(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    free = await site.book(gw, "R1", choice=BookingChoice(evse_uid="E000"))
    busy = await site.book(gw, "R2", choice=BookingChoice(evse_uid="E001"))
    await site.set_status("E001", EvseStatus.CHARGING)
    clock.now = at(590)
    report = await gw.binder.run()
    await gw.reservations.drain()
    assert (report.bound, report.occupied, report.ended) == ([free.key], [busy.key], [])
    # At the no-show time itself the unbound one is not tried again: it is given up.
    clock.now = at(615)
    report = await gw.binder.run()
    await gw.reservations.drain()
    assert (report.bound, report.occupied, report.ended) == ([], [], [busy.key])
    assert site.seen.occupied == [busy.key]
    given_up = await site.booking(busy.key)
    assert given_up.state is BookingState.CANCELED and given_up.canceled is not None
    assert given_up.canceled.reason is CancelReason.FULL
    # The bound one is not over while its reservation lives.
    assert (await site.booking(free.key)).state is BookingState.RESERVED


async def test_a_failed_try_puts_the_promise_back_on_the_class(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    site.chargers.offline.update({"CP000", "CP001"})  # held, then no charger answers
    clock.now = at(590)
    await gw.run()
    assert site.seen.occupied == [b.key]
    assert not (await site.booking(b.key)).bound
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert (p.promise_id, p.evse_uid) == (b.promise_id, None)


async def test_a_binding_that_comes_up_for_an_ended_booking_is_given_back(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.ACTIVE
    # Cancelled where no binder listens (another instance's bare ledger): the reservation
    # lives on until the binder next hears of it.
    bound = await site.booking(b.key)
    ended = await BookingLedger(site.store, clock=clock).transition(
        bound, BookingState.CANCELED, reason="eMSP")
    assert ended is not None
    assert (await site.reservation(b)).state is ReservationState.ACTIVE  # type: ignore[union-attr]
    await gw.binder.on_reservation(r, ReservationState.PENDING)
    await gw.reservations.drain()
    after = await site.reservation(b)
    assert after is not None and after.state is ReservationState.CANCELLED
    assert [c.reservation_id for c in site.chargers.cancels()] == [bound.ocpp_reservation_id]
    assert (await site.booking(b.key)).state is BookingState.CANCELED


def binding(b: Booking, state: ReservationState, *, booking_id: str | None = None
            ) -> Reservation:
    """A reservation of ``b``'s binding as the reservation service would hand it over."""
    rid = booked_reservation_id(booking_id or b.id)
    return Reservation(key=reservation_key(b.partner, rid), country_code=b.country_code,
                       party_id=b.party_id, reservation_id=rid, location_id=b.location_id,
                       token_uid="TOK1", token_type="RFID", expiry=b.noshow_at, state=state,
                       evse_uid="E000", charge_point_id="CP000", ocpp_reservation_id=7,
                       booking_key=b.key)


async def test_a_failed_binding_puts_the_promise_back_on_the_class(
        site: BindingSite) -> None:
    gw = site.instance()
    b = await site.book(gw)
    # The try held E000 (the promise moved there), then no charger took it.
    assert (await site.timeline.amend("LOC1", promise_of(b, evse_uid="E000"))).ok
    await gw.binder.on_reservation(binding(b, ReservationState.FAILED),
                                   ReservationState.PENDING)
    [p] = await site.timeline.promises("LOC1", at(0), at(1000))
    assert (p.promise_id, p.evse_uid) == (b.promise_id, None)
    assert (await site.booking(b.key)).state is BookingState.RESERVED


async def test_binding_ends_a_booking_does_not_follow(site: BindingSite) -> None:
    gw = site.instance()
    b = await site.book(gw)
    # Another booking's binding under the same key (an id reused after this one ended).
    await gw.binder.on_reservation(binding(b, ReservationState.ACTIVE, booking_id="B-old"),
                                   ReservationState.PENDING)
    assert not (await site.booking(b.key)).bound
    # Its unbound binding cancelled (before it held anything): it stays booked.
    await gw.binder.on_reservation(binding(b, ReservationState.CANCELLED),
                                   ReservationState.PENDING)
    assert (await site.booking(b.key)).state is BookingState.RESERVED
    # A booking already over: its binding's end changes nothing, and nothing is sent.
    over = await gw.bookings.ledger.transition(await site.booking(b.key),
                                               BookingState.CANCELED, reason="eMSP")
    assert over is not None
    await gw.binder.on_reservation(binding(b, ReservationState.EXPIRED),
                                   ReservationState.ACTIVE)
    await gw.reservations.drain()
    assert (await site.booking(b.key)).state is BookingState.CANCELED
    assert site.chargers.cancels() == []


async def test_a_bound_bookings_reservation_cancelled_elsewhere_cancels_it(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    r = await site.reservation(b)
    assert r is not None and (await site.booking(b.key)).bound
    await gw.binder.on_reservation(replace(r, state=ReservationState.CANCELLED),
                                   ReservationState.ACTIVE)
    ended = await site.booking(b.key)
    assert ended.state is BookingState.CANCELED and ended.canceled is not None
    assert ended.canceled.reason is CancelReason.UNKNOWN


async def test_a_use_whose_end_a_crash_lost_is_settled_by_when_it_happened(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    early = await site.book(gw, "R1")
    on_time = await site.book(gw, "R2")
    clock.now = at(590)
    await gw.run()
    # Both bindings used with the token, no listener told (the instance died): one at 592,
    # before the use window (595..615), one at 600, inside it.
    for b, minute in ((early, 592), (on_time, 600)):
        r = await site.reservation(b)
        assert r is not None
        clock.now = at(minute)
        assert await gw.reservations.repo.transition(r, ReservationState.USED,
                                                     reason="token") is not None
    clock.now = at(616)
    await gw.run()
    assert (await site.booking(on_time.key)).state is BookingState.FULFILLED
    assert not (await site.booking(early.key)).bound  # not its use: unbound again


async def test_a_stale_use_does_not_unbind_a_booking_bound_anew(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    await gw.run()
    r = await site.reservation(b)
    assert r is not None and r.ocpp_reservation_id is not None
    # The use of an earlier binding (another OCPP reservation id), outside the window.
    stale = replace(r, state=ReservationState.USED, ocpp_reservation_id=r.ocpp_reservation_id + 1)
    await gw.binder.on_reservation(stale, ReservationState.ACTIVE)
    kept = await site.booking(b.key)
    assert kept.bound and kept.ocpp_reservation_id == r.ocpp_reservation_id


async def test_a_try_for_a_booking_cancelled_meanwhile_brings_no_promise_back(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    # Cancelled (its promise released) after the run read it as due: the try finds it over.
    cancelled = await gw.bookings.cancel_by_cpo(b, CancelReason.UNKNOWN, reason="test")
    assert cancelled is not None and cancelled.state is BookingState.CANCELED
    assert await site.timeline.promises("LOC1", at(0), at(1000)) == []
    clock.now = at(590)
    assert await gw.binder.bind(b) is b  # the stale copy: nothing fitting was bound
    await gw.reservations.drain()
    assert await site.timeline.promises("LOC1", at(0), at(1000)) == []
    assert site.chargers.reserve_nows() == []


async def test_a_try_that_finds_its_binding_made_answers_the_bound_booking(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(590)
    first = await gw.binder.bind(b)
    assert first is not None and first.bound
    # Another instance's run with the copy it read before: the reservation stands, held.
    again = await gw.binder.bind(b)
    assert again is not None and again.bound and again.evse_uid == first.evse_uid
    assert len(site.chargers.reserve_nows()) == 1


async def test_a_binding_the_listener_could_not_record_is_recorded_by_bind(
        site: BindingSite, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener's write of the EVSE onto the booking lost (another writer, a failed
    store write): ``bind`` does not take what the listener saw, it records the binding."""
    gw = site.instance()
    b = await site.book(gw)
    real = gw.bookings.mark_bound
    lost: list[str] = []

    async def lose_once(booking: Booking, **kw: object) -> object:
        if not lost:
            lost.append(booking.key)
            return BindResult(None, Admission(Verdict.ADMITTED))
        return await real(booking, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(gw.bookings, "mark_bound", lose_once)
    clock.now = at(590)
    bound = await gw.binder.bind(b)
    assert lost == [b.key]
    assert bound is not None and bound.bound and bound.evse_uid is not None
    assert (await site.booking(b.key)).evse_uid == bound.evse_uid
