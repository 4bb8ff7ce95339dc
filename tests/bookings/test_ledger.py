"""Booking records in the store (SQLite and the MongoDB backend): every field survives, every
transition is a compare-and-set that is stored with a history entry and heard by the
listeners, and the scans the scheduler and the waiting list use find what they must."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import (
    Access,
    Booking,
    BookingChoice,
    Cancellation,
    RequestEntry,
)
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
    RequestStatus,
    TransitionError,
)
from tests.bookings.support import EMSP, OTHER, Clock, ask, at, booking


@pytest.fixture
def ledger(store: DocumentStore, clock: Clock) -> BookingLedger:
    return BookingLedger(store, clock=clock)


class Heard:
    def __init__(self) -> None:
        self.events: list[BookingTransitioned] = []

    async def __call__(self, event: BookingTransitioned) -> None:
        self.events.append(event)


async def test_every_field_survives_the_store(ledger: BookingLedger) -> None:
    full = booking(
        choice=BookingChoice("E1", "1", "P7", ("IEC_62196_T2",), ("AC_3_PHASE",), ("CABLE",),
                             ("LEFT",), ("PERSONAL_VEHICLE",),
                             (("drive_through", True), ("max_vehicle_height", 210.5))),
        access=(Access("ACCESS_CODE", "1234"), Access("OPEN")), power_required_kw=11,
        canceled=Cancellation(CancelReason.TRAFFIC, CanceledBy.EMSP), tariff_ids=("T1", "T2"),
        message="why", waiting_until=at(30), evse_uid="E1", charge_point_id="CP1",
        ocpp_reservation_id=42, bound_at=at(5))
    stored = await ledger.create(full)
    assert stored is not None
    again = await ledger.get(full.key)
    assert again == stored
    assert again.choice == full.choice and again.access == full.access
    assert again.requests[0].ask == full.requests[0].ask


async def test_create_stamps_time_and_history_and_tells_listeners(
        ledger: BookingLedger, clock: Clock) -> None:
    heard = Heard()
    ledger.add_listener(heard)
    clock.advance(3)
    stored = await ledger.create(booking())
    assert stored is not None
    assert stored.created_at == stored.updated_at == at(3)
    assert [(h["from"], h["to"], h["reason"]) for h in stored.history] == [
        (None, "PENDING", "created")]
    [event] = heard.events
    assert (event.booking_key, event.previous, event.state, event.reason) == (
        stored.key, None, "PENDING", "created")
    assert event.token_uids == ("TOK1",) and event.authorization_reference == "AUTH1"
    assert event.timestamp == at(3)


async def test_the_same_key_is_created_once(ledger: BookingLedger) -> None:
    assert await ledger.create(booking()) is not None
    assert await ledger.create(booking()) is None


async def test_a_final_booking_may_be_replaced_under_its_key_a_live_one_not(
        ledger: BookingLedger) -> None:
    first = await ledger.create(booking())
    assert first is not None
    with pytest.raises(TransitionError):
        await ledger.create(booking(), first)
    rejected = await ledger.transition(first, BookingState.REJECTED, reason="full")
    assert rejected is not None
    again = await ledger.create(booking(start=900), rejected)
    assert again is not None and again.version == rejected.version + 1
    assert again.start == at(900) and again.state is BookingState.PENDING
    assert await ledger.create(booking(start=950), rejected) is None  # stale previous


async def test_transition_is_compare_and_set_and_stored_with_history(
        ledger: BookingLedger, clock: Clock) -> None:
    heard = Heard()
    ledger.add_listener(heard)
    created = await ledger.create(booking())
    assert created is not None
    clock.advance(1)
    reserved = await ledger.transition(created, BookingState.RESERVED, reason="admitted",
                                       decide=RequestStatus.ACCEPTED)
    assert reserved is not None and reserved.version == created.version + 1
    assert reserved.updated_at == at(1)
    assert reserved.requests[0].status is RequestStatus.ACCEPTED
    assert reserved.requests[0].decided == at(1)
    assert await ledger.transition(created, BookingState.REJECTED, reason="late") is None
    stored = await ledger.get(created.key)
    assert stored == reserved
    assert [(h["from"], h["to"]) for h in stored.history] == [
        (None, "PENDING"), ("PENDING", "RESERVED")]
    assert [(e.previous, e.state, e.request_status) for e in heard.events] == [
        (None, "PENDING", None), ("PENDING", "RESERVED", "ACCEPTED")]


async def test_a_forbidden_transition_raises_and_stores_nothing(ledger: BookingLedger) -> None:
    created = await ledger.create(booking())
    assert created is not None
    with pytest.raises(TransitionError):
        await ledger.transition(created, BookingState.NO_SHOW, reason="x")
    assert await ledger.get(created.key) == created


async def test_leaving_pending_ends_the_wait(ledger: BookingLedger) -> None:
    created = await ledger.create(booking(waiting_until=at(30)))
    assert created is not None
    assert [b.key for b in await ledger.waiting("LOC1")] == [created.key]
    reserved = await ledger.transition(created, BookingState.RESERVED, reason="granted",
                                       decide=RequestStatus.ACCEPTED)
    assert reserved is not None and reserved.waiting_until is None
    assert await ledger.waiting("LOC1") == []


async def test_a_request_is_added_then_decided_with_its_message(ledger: BookingLedger) -> None:
    created = await ledger.create(booking())
    assert created is not None
    reserved = await ledger.transition(created, BookingState.RESERVED, reason="admitted",
                                       decide=RequestStatus.ACCEPTED)
    assert reserved is not None
    change = RequestEntry(RequestStatus.PENDING, ask(start=700), at(2))
    changed = await ledger.add_request(reserved, change, reason="change_received")
    assert changed is not None and changed.pending_request == change
    declined = await ledger.transition(changed, BookingState.RESERVED, reason="change_full",
                                       decide=RequestStatus.DECLINED, message="full at 18:00")
    assert declined is not None and declined.pending_request is None
    assert [r.status for r in declined.requests] == [RequestStatus.ACCEPTED,
                                                     RequestStatus.DECLINED]
    assert declined.requests[1].message == "full at 18:00"
    with pytest.raises(TransitionError, match="no pending request"):
        await ledger.transition(declined, BookingState.RESERVED, reason="x",
                                decide=RequestStatus.ACCEPTED)
    ended = await ledger.transition(declined, BookingState.CANCELED, reason="cancel")
    assert ended is not None
    with pytest.raises(TransitionError):
        await ledger.add_request(ended, change, reason="late")


async def test_a_failing_listener_stops_neither_the_others_nor_the_write(
        ledger: BookingLedger) -> None:
    heard = Heard()

    async def broken(event: BookingTransitioned) -> None:
        raise RuntimeError("listener bug")

    ledger.add_listener(broken)
    ledger.add_listener(heard)
    created = await ledger.create(booking())
    assert created is not None and len(heard.events) == 1
    assert await ledger.get(created.key) == created


async def _reserved(ledger: BookingLedger, b: Booking) -> Booking:
    created = await ledger.create(b)
    assert created is not None
    reserved = await ledger.transition(created, BookingState.RESERVED, reason="admitted")
    assert reserved is not None
    return reserved


async def test_due_for_binding_is_reserved_unbound_and_due_earliest_first(
        ledger: BookingLedger) -> None:
    late = await _reserved(ledger, booking("LATE", start=120))
    early = await _reserved(ledger, booking("EARLY", start=60))
    bound = await _reserved(ledger, booking("BOUND", start=30))
    await ledger.transition(bound, BookingState.RESERVED, reason="bound", evse_uid="E1",
                            charge_point_id="CP1", ocpp_reservation_id=1)
    await ledger.create(booking("PENDING", start=30))
    # Binding time is start - 10 min (TERMS.activation_lead_minutes).
    assert await ledger.due_for_binding(at(49)) == []
    assert [b.key for b in await ledger.due_for_binding(at(50))] == [early.key]
    assert [b.key for b in await ledger.due_for_binding(at(110))] == [early.key, late.key]
    assert [b.key for b in await ledger.due_for_binding(at(110), limit=1)] == [early.key]


async def test_due_for_noshow_is_reserved_past_start_plus_timeout(ledger: BookingLedger) -> None:
    first = await _reserved(ledger, booking("A", start=60))
    second = await _reserved(ledger, booking("B", start=90))
    await ledger.create(booking("P", start=0))
    # No-show time is start + 15 min (TERMS.noshow_timeout_minutes).
    assert await ledger.due_for_noshow(at(74)) == []
    assert [b.key for b in await ledger.due_for_noshow(at(75))] == [first.key]
    assert [b.key for b in await ledger.due_for_noshow(at(200))] == [first.key, second.key]
    await ledger.transition(first, BookingState.FULFILLED, reason="used")
    assert [b.key for b in await ledger.due_for_noshow(at(200))] == [second.key]


async def test_the_waiting_list_is_per_site_first_come_first_served(
        ledger: BookingLedger, clock: Clock) -> None:
    keys = []
    for name in ("W1", "W2", "W3"):
        created = await ledger.create(booking(name, waiting_until=at(60)))
        assert created is not None
        keys.append(created.key)
        clock.advance(1)
    await ledger.create(booking("ELSEWHERE", location="LOC2", waiting_until=at(60)))
    await ledger.create(booking("NOT_WAITING"))
    assert [b.key for b in await ledger.waiting("LOC1")] == keys
    assert len(await ledger.waiting_anywhere()) == 4
    assert len(await ledger.waiting_anywhere(limit=2)) == 2


async def test_a_partner_sees_only_its_own_in_order_of_change(
        ledger: BookingLedger, clock: Clock) -> None:
    mine = []
    for name in ("A", "B", "C"):
        created = await ledger.create(booking(name))
        assert created is not None
        mine.append(created)
        clock.advance(1)
    await ledger.create(booking("A", partner=OTHER))
    await ledger.transition(mine[0], BookingState.REJECTED, reason="x")  # A changes last
    seen = [b.request_id for b in await ledger.of_partner(EMSP.key)]
    assert seen == ["B", "C", "A"]
    assert [b.request_id for b in await ledger.of_partner(EMSP.key, offset=1, limit=1)] == ["C"]
    assert await ledger.count(partner_key=EMSP.key) == 3
    assert await ledger.count() == 4


async def test_live_bookings_with_a_token_at_a_site(ledger: BookingLedger) -> None:
    mine = await ledger.create(booking("A"))
    await ledger.create(booking("B", location="LOC2"))
    ended = await ledger.create(booking("C"))
    assert mine is not None and ended is not None
    await ledger.transition(ended, BookingState.REJECTED, reason="x")
    assert [b.key for b in await ledger.with_token("LOC1", "tok1")] == [mine.key]
    assert await ledger.with_token("LOC1", "OTHER") == []
    assert [b.key for b in await ledger.live(location_id="LOC1")] == [mine.key]


def test_the_record_computes_its_times_from_the_accepted_terms() -> None:
    b = booking(start=600, minutes=60)
    assert b.bind_at == at(590)
    assert b.noshow_at == at(615)
    assert b.use_window == (at(595), at(615))
    assert b.promise_id == f"booking|{b.key}"
    assert not b.bound and replace(b, evse_uid="E1").bound
    assert b.partner == EMSP and b.live
    assert b.ids["booking_key"] == b.key and b.ids["evse_uid"] is None
