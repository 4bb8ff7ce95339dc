"""An eMSP's requests decided against the booking terms and the capacity timeline: a new
booking RESERVED or REJECTED (naming the term, or the instant full and the nearest free
timeslots), a change accepted or declined, a cancellation; every request decided once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.intake import Answer, BookingIntake, UnknownBooking
from ocpi_gateway.reservation_policy.bookings.records import BookingChoice, Cancellation
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.models import Partner
from tests.bookings.support import EMSP, OTHER, T0, Clock, ask, at, policy_source, service

CANCEL = Cancellation(CancelReason.TRAFFIC, CanceledBy.EMSP)


def intake(store: DocumentStore, timeline: CapacityTimeline, clock: Clock, *,
           evses: int = 1, **terms: Any) -> BookingIntake:
    svc = service(store, timeline, clock, evses=evses, policy=policy_source(**terms))
    return BookingIntake(svc, tariff_ids=lambda location_id: ("TARIFF-" + location_id,))


async def submit(i: BookingIntake, request_id: str = "R1", *, partner: Partner = EMSP,
                 **kw: Any) -> Answer:
    return await i.submit(partner, ask(request_id, partner=partner, **kw))


async def test_a_request_that_fits_is_reserved_at_once(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    answer = await submit(i)
    b = answer.booking
    assert answer.message is None
    assert b.state is BookingState.RESERVED
    assert [r.status for r in b.requests] == [RequestStatus.ACCEPTED]
    assert b.tariff_ids == ("TARIFF-LOC1",)
    assert b.terms == i.service.policy.effective("LOC1", EMSP).bookings
    promise = await timeline.get("LOC1", b.promise_id)
    assert promise is not None and (promise.start, promise.end) == (at(590), at(670))
    assert [h["to"] for h in b.history] == ["PENDING", "RESERVED"]
    assert await i.service.ledger.get(b.key) == b


@pytest.mark.parametrize(("terms", "asked", "term"), [
    ({"enabled": False}, {}, "enabled"),
    ({}, {"start": -15}, "period"),
    ({}, {"minutes": 0}, "period"),
    ({"max_advance_days": 0.25}, {"start": 6 * 60 + 15}, "max_advance_days"),
    ({"min_duration_minutes": 30}, {"minutes": 15}, "min_duration_minutes"),
    ({"max_duration_minutes": 60}, {"minutes": 75}, "max_duration_minutes"),
    ({}, {"start": 607}, "timeslot_increment_minutes"),
    ({}, {"minutes": 50}, "timeslot_increment_minutes"),
])
async def test_a_request_outside_the_terms_is_rejected_naming_the_term(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock,
        terms: dict[str, Any], asked: dict[str, Any], term: str) -> None:
    i = intake(store, timeline, clock, **terms)
    answer = await submit(i, **asked)
    assert answer.booking.state is BookingState.REJECTED
    assert answer.message is not None and answer.message.startswith(f"{term}: ")
    [entry] = answer.booking.requests
    assert entry.status is RequestStatus.DECLINED and entry.message == answer.message
    assert answer.booking.message == answer.message
    assert await timeline.get("LOC1", answer.booking.promise_id) is None


async def test_the_grid_counts_from_midnight_in_the_site_time_zone(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock, policy=policy_source(timeslot_increment_minutes=60))
    # Kolkata is UTC+05:30: 18:00 UTC is 23:30 there, off a 60-minute grid; 18:30 is on it.
    i = BookingIntake(svc, site_zone=lambda _: ZoneInfo("Asia/Kolkata"))
    off = await submit(i, "A", start=600)
    assert off.booking.state is BookingState.REJECTED
    assert off.message is not None and off.message.startswith("timeslot_increment_minutes")
    on = await submit(i, "B", start=630)
    assert on.booking.state is BookingState.RESERVED


async def test_a_full_site_rejects_with_the_instant_and_the_nearest_free_timeslots(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    assert (await submit(i, "FIRST", start=600)).booking.state is BookingState.RESERVED
    answer = await submit(i, "SECOND", start=600)
    assert answer.booking.state is BookingState.REJECTED
    assert answer.message is not None
    assert answer.message.startswith("full at 2026-12-02T17:50:00+00:00: 1 promised")
    # One EVSE; the first takes 17:50-19:10 (lead 10, buffer 10). An hour on the 15-minute
    # grid fits from 19:30 (promise 19:20-20:40; 19:15 would start at 19:05) or ending by
    # 17:30 (promise 16:20-17:40): both 90 min away, the earlier first; then 16:15.
    assert answer.message.endswith(
        "nearest free timeslots: 2026-12-02T16:30:00Z/2026-12-02T17:30:00Z, "
        "2026-12-02T19:30:00Z/2026-12-02T20:30:00Z, "
        "2026-12-02T16:15:00Z/2026-12-02T17:15:00Z")
    assert answer.booking.requests[0].status is RequestStatus.DECLINED
    assert await timeline.get("LOC1", answer.booking.promise_id) is None


async def test_no_free_timeslot_near_is_said(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, max_duration_minutes=24 * 60 - 20)
    assert (await submit(i, "ALL", start=15, minutes=23 * 60)).booking.state is \
        BookingState.RESERVED
    answer = await submit(i, "SECOND", start=600)
    assert answer.message is not None and answer.message.endswith(
        "no free timeslot within 12 h")


async def test_a_request_that_does_not_fit_waits_and_is_granted_when_capacity_frees(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, waitlist_minutes=30)
    from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
    waiting = WaitingList(i.service)
    first = (await submit(i, "FIRST")).booking
    clock.advance(1)
    second = await submit(i, "SECOND")
    clock.advance(1)
    third = await submit(i, "THIRD")
    for answer in (second, third):
        assert answer.booking.state is BookingState.PENDING
        assert answer.booking.requests[0].status is RequestStatus.PENDING
        assert answer.message is not None and answer.message.startswith("waiting until ")
        assert "full at" in answer.message and "nearest free timeslots" in answer.message
    assert second.booking.waiting_until == at(31)
    clock.advance(5)
    cancel = await submit(i, "FIRST", canceled=CANCEL)
    assert cancel.booking.state is BookingState.CANCELED
    granted = await i.service.ledger.get(second.booking.key)
    assert granted is not None and granted.state is BookingState.RESERVED
    assert granted.requests[0].status is RequestStatus.ACCEPTED
    assert granted.waiting_until is None and granted.message is None
    still = await i.service.ledger.get(third.booking.key)
    assert still is not None and still.state is BookingState.PENDING  # first come first
    assert await timeline.get("LOC1", first.promise_id) is None
    clock.advance(30)
    [expired] = await waiting.expire()
    assert expired.key == third.booking.key and expired.state is BookingState.REJECTED
    assert expired.requests[0].status is RequestStatus.DECLINED
    assert expired.message is not None and expired.message.startswith("waited until ")
    assert "nearest free timeslots" in expired.message


async def test_a_wait_ends_by_the_binding_time(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, waitlist_minutes=600)
    await submit(i, "FIRST", start=60)
    answer = await submit(i, "SECOND", start=60)
    assert answer.booking.waiting_until == at(50)  # start 60 - activation lead 10


async def test_a_later_waiting_request_that_fits_is_not_held_back(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
    i = intake(store, timeline, clock, waitlist_minutes=30, max_duration_minutes=480)
    WaitingList(i.service)
    await submit(i, "EARLY", start=600)
    await submit(i, "LATE", start=900)
    long = await submit(i, "LONG", start=570, minutes=420)  # overlaps both
    short = await submit(i, "SHORT", start=900)             # overlaps LATE only
    assert long.booking.state is short.booking.state is BookingState.PENDING
    await submit(i, "LATE", canceled=CANCEL)
    assert (await i.service.ledger.get(long.booking.key) or long.booking).state is \
        BookingState.PENDING
    granted = await i.service.ledger.get(short.booking.key)
    assert granted is not None and granted.state is BookingState.RESERVED


async def test_a_change_moves_the_booking_and_its_promise(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    first = (await submit(i, start=600)).booking
    answer = await submit(i, start=720, minutes=30,
                          choice=BookingChoice(connector_types=("IEC_62196_T2",)))
    b = answer.booking
    assert b.state is BookingState.RESERVED and b.key == first.key and b.id == first.id
    assert (b.start, b.end) == (at(720), at(750))
    assert b.choice is not None and b.choice.connector_types == ("IEC_62196_T2",)
    assert [r.status for r in b.requests] == [RequestStatus.ACCEPTED, RequestStatus.ACCEPTED]
    promise = await timeline.get("LOC1", b.promise_id)
    assert promise is not None and (promise.start, promise.end) == (at(710), at(760))
    assert (await submit(i, "OTHER", start=600)).booking.state is BookingState.RESERVED


@pytest.mark.parametrize(("setup", "change", "expected"), [
    ("late", {"start": 720}, "change_until_minutes: "),
    ("outside", {"minutes": 50}, "timeslot_increment_minutes: "),
    ("elsewhere", {"location": "LOC2"}, "location_id: "),
    ("full", {"start": 705}, "full at "),
    ("bound", {"start": 720}, "the booking is bound to EVSE E000"),
])
async def test_a_change_that_cannot_be_made_is_declined_and_the_booking_stands(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock, setup: str,
        change: dict[str, Any], expected: str) -> None:
    i = intake(store, timeline, clock)
    first = (await submit(i, start=600)).booking
    if setup == "late":
        clock.advance(600 - 59)  # change_until_minutes is 60
    if setup == "full":
        await submit(i, "OTHER", start=720)
    if setup == "bound":
        bound = await i.service.mark_bound(first, evse_uid="E000", charge_point_id="CP000",
                                           ocpp_reservation_id=3)
        assert bound.booking is not None
    answer = await submit(i, **change)
    assert answer.message is not None and answer.message.startswith(expected)
    b = answer.booking
    assert b.state is BookingState.RESERVED and (b.start, b.end) == (first.start, first.end)
    assert [r.status for r in b.requests] == [RequestStatus.ACCEPTED, RequestStatus.DECLINED]
    assert b.requests[1].message == answer.message and b.message is None
    promise = await timeline.get("LOC1", b.promise_id)
    assert promise is not None and promise.start == at(590)


async def test_a_change_of_a_waiting_request_is_declined(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, waitlist_minutes=30)
    await submit(i, "FIRST")
    waiting = await submit(i, "SECOND")
    assert waiting.booking.state is BookingState.PENDING
    answer = await submit(i, "SECOND", start=900)
    assert answer.booking.state is BookingState.PENDING
    assert [r.status for r in answer.booking.requests] == [RequestStatus.PENDING,
                                                           RequestStatus.DECLINED]
    assert answer.message is not None and "still PENDING" in answer.message


async def test_a_cancellation_ends_the_booking_and_frees_its_capacity(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    first = (await submit(i)).booking
    answer = await submit(i, canceled=Cancellation(CancelReason.BROKEN_VEHICLE,
                                                   CanceledBy.CPO))
    b = answer.booking
    assert b.state is BookingState.CANCELED
    assert b.canceled == Cancellation(CancelReason.BROKEN_VEHICLE, CanceledBy.EMSP)
    assert [r.status for r in b.requests] == [RequestStatus.ACCEPTED, RequestStatus.ACCEPTED]
    assert await timeline.get("LOC1", first.promise_id) is None
    again = await submit(i, canceled=CANCEL)
    assert again.booking == b and again.message == "the booking is CANCELED: nothing to cancel"


async def test_a_cancellation_too_close_to_the_start_is_declined(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, cancel_until_minutes=30)
    first = (await submit(i)).booking
    clock.advance(600 - 29)
    answer = await submit(i, canceled=CANCEL)
    assert answer.booking.state is BookingState.RESERVED
    assert answer.message is not None and answer.message.startswith("cancel_until_minutes: ")
    assert answer.booking.requests[-1].status is RequestStatus.DECLINED
    assert await timeline.get("LOC1", first.promise_id) is not None


async def test_a_waiting_request_withdrawn_ends_canceled_with_every_request_decided(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, waitlist_minutes=30)
    await submit(i, "FIRST")
    await submit(i, "SECOND")
    answer = await submit(i, "SECOND", canceled=CANCEL)
    assert answer.booking.state is BookingState.CANCELED
    assert [r.status for r in answer.booking.requests] == [RequestStatus.DECLINED,
                                                           RequestStatus.ACCEPTED]
    assert await i.service.ledger.waiting("LOC1") == []


async def test_cancelling_a_request_never_made_is_an_unknown_booking(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    with pytest.raises(UnknownBooking):
        await submit(i, canceled=CANCEL)
    assert await i.service.ledger.count() == 0


async def test_the_same_request_id_after_the_end_is_a_new_booking(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)
    rejected = (await submit(i, minutes=50)).booking
    assert rejected.state is BookingState.REJECTED
    again = (await submit(i)).booking
    assert again.state is BookingState.RESERVED and again.key == rejected.key
    assert again.id != rejected.id and len(again.requests) == 1


async def test_another_partners_request_id_never_touches_this_partners_booking(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, evses=2)
    mine = (await submit(i, "R1")).booking
    with pytest.raises(UnknownBooking):
        await submit(i, "R1", partner=OTHER, canceled=CANCEL)
    theirs = (await submit(i, "R1", partner=OTHER, start=720)).booking
    assert theirs.key != mine.key and theirs.state is BookingState.RESERVED
    stored = await i.service.ledger.get(mine.key)
    assert stored == mine


async def test_an_error_while_admitting_fails_the_booking(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis went away")

    i.service.reserve_promise = broken  # type: ignore[method-assign]
    answer = await submit(i)
    assert answer.booking.state is BookingState.FAILED
    assert answer.booking.requests[0].status is RequestStatus.FAILED
    assert answer.message == "the request could not be processed"


async def test_an_error_during_a_change_fails_that_request_and_the_booking_stands(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    # A change's request is stored PENDING before it is decided: an error after that must
    # decide it FAILED (BookingRequestStatus FAILED, "request for booking failed"), not leave
    # it open for ever with the booking unchanged.
    i = intake(store, timeline, clock, evses=2)
    made = (await submit(i)).booking
    real = i.service.reserve_promise

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis went away")

    i.service.reserve_promise = broken  # type: ignore[method-assign]
    answer = await submit(i, start=660)
    b = answer.booking
    assert [r.status for r in b.requests] == [RequestStatus.ACCEPTED, RequestStatus.FAILED]
    assert b.state is BookingState.RESERVED and (b.start, b.end) == (made.start, made.end)
    assert answer.message == "the request could not be processed"
    stored = await i.service.ledger.get(made.key)
    assert stored is not None and stored.requests == b.requests
    assert (await timeline.get("LOC1", made.promise_id)) is not None
    # The next change is decided as usual.
    i.service.reserve_promise = real  # type: ignore[method-assign]
    later = (await submit(i, start=660)).booking
    assert [r.status for r in later.requests][-1] is RequestStatus.ACCEPTED
    assert later.start == at(660)


async def test_an_error_during_a_cancellation_fails_that_request(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    i = intake(store, timeline, clock, evses=2)
    made = (await submit(i)).booking
    real = i.service.ledger.transition
    calls = {"n": 0}

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reason") == "canceled" and calls["n"] == 0:
            calls["n"] += 1
            raise ConnectionError("the store went away")
        return await real(*args, **kwargs)

    i.service.ledger.transition = failing_once  # type: ignore[method-assign]
    answer = await submit(i, canceled=CANCEL)
    assert [r.status for r in answer.booking.requests] == [RequestStatus.ACCEPTED,
                                                           RequestStatus.FAILED]
    assert answer.booking.state is BookingState.RESERVED
    again = await submit(i, canceled=CANCEL)
    assert again.booking.state is BookingState.CANCELED
    assert (await timeline.get("LOC1", made.promise_id)) is None


async def test_a_request_interrupted_before_its_decision_is_failed_by_the_sweeper(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    from ocpi_gateway.reservation_policy.bookings.sweeper import BookingSweeper
    from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
    from tests.bookings.support import booking
    i = intake(store, timeline, clock, waitlist_minutes=30)
    sweeper = BookingSweeper(i.service, WaitingList(i.service),
                             stale_after=timedelta(minutes=1))
    stuck = await i.service.ledger.create(booking("STUCK"))
    assert stuck is not None
    await i.service.reserve_promise(stuck)  # admitted, then the instance died
    await submit(i, "FULL")  # one EVSE, FULL would fit beside nothing: it waits
    clock.advance(0.5)
    assert await sweeper.sweep() == []
    clock.advance(1)
    ended = await sweeper.sweep()
    assert [b.key for b in ended] == [stuck.key]
    assert ended[0].state is BookingState.FAILED
    assert ended[0].requests[0].status is RequestStatus.FAILED
    assert await timeline.get("LOC1", stuck.promise_id) is None
    assert T0 < clock.now
    _ = replace


async def test_a_change_interrupted_before_its_decision_is_failed_by_the_sweeper(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    # The instance died between storing a change's request and deciding it (after the
    # timeline took the new period, say): the sweep decides the request FAILED, and the
    # booking keeps its own period and promise.
    from ocpi_gateway.reservation_policy.bookings.records import RequestEntry
    from ocpi_gateway.reservation_policy.bookings.service import promise_of
    from ocpi_gateway.reservation_policy.bookings.sweeper import BookingSweeper
    from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
    i = intake(store, timeline, clock, evses=2)
    sweeper = BookingSweeper(i.service, WaitingList(i.service),
                             stale_after=timedelta(minutes=1))
    made = (await submit(i)).booking
    moved = ask(start=700)
    added = await i.service.ledger.add_request(
        made, RequestEntry(RequestStatus.PENDING, moved, clock()), reason="change_received")
    assert added is not None
    assert (await i.service.reserve_promise(replace(added, start=moved.start, end=moved.end),
                                            amend=True)).ok
    assert await sweeper.sweep() == []  # not stale yet
    clock.advance(2)
    [swept] = await sweeper.sweep()
    assert swept.key == made.key and swept.state is BookingState.RESERVED
    assert [r.status for r in swept.requests] == [RequestStatus.ACCEPTED, RequestStatus.FAILED]
    assert (swept.start, swept.end) == (made.start, made.end)
    kept = await timeline.get("LOC1", made.promise_id)
    assert kept is not None and kept.start == promise_of(made).start
    assert await sweeper.sweep() == []  # decided once


async def test_the_sweeper_waits_a_minute_by_default(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    from ocpi_gateway.reservation_policy.bookings.records import RequestEntry
    from ocpi_gateway.reservation_policy.bookings.sweeper import BookingSweeper
    from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
    i = intake(store, timeline, clock, evses=2)
    sweeper = BookingSweeper(i.service, WaitingList(i.service))
    made = (await submit(i)).booking
    assert await i.service.ledger.add_request(
        made, RequestEntry(RequestStatus.PENDING, ask(start=700), clock()),
        reason="change_received") is not None
    clock.advance(59 / 60)
    assert await sweeper.sweep() == []
    clock.advance(2 / 60)
    assert [b.key for b in await sweeper.sweep()] == [made.key]
