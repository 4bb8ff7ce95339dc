"""Grants of the waiting list that race: two passes (two RESERVE_NOWs at the site, a status
change beside a cancellation, two instances) read the same waiting request before either
wrote. The one that loses the write must not take back the promise the winner's RESERVED
booking stands on: the same promise admitted again is only a retry of it."""

from __future__ import annotations

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.intake import BookingIntake
from ocpi_gateway.reservation_policy.bookings.records import Booking, Cancellation
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
)
from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from tests.bookings.support import EMSP, Clock, ask, policy_source, service

CANCEL = Cancellation(CancelReason.TRAFFIC, CanceledBy.EMSP)


async def test_a_grant_that_lost_the_write_keeps_the_winners_promise(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service(store, timeline, clock, evses=1, policy=policy_source(waitlist_minutes=30))
    intake = BookingIntake(svc)
    waiting = WaitingList(svc)
    await intake.submit(EMSP, ask("FIRST"))
    clock.advance(1)
    second = (await intake.submit(EMSP, ask("SECOND"))).booking
    assert second.state is BookingState.PENDING
    seen = await svc.ledger.waiting("LOC1")  # what a second pass read meanwhile

    await intake.submit(EMSP, ask("FIRST", canceled=CANCEL))  # frees it: granted
    granted = await svc.ledger.get(second.key)
    assert granted is not None and granted.state is BookingState.RESERVED

    async def stale(location_id: str) -> list[Booking]:
        return seen

    monkeypatch.setattr(svc.ledger, "waiting", stale)
    assert await waiting.grant("LOC1") == []
    stored = await svc.ledger.get(second.key)
    assert stored is not None and stored.state is BookingState.RESERVED
    assert await timeline.get("LOC1", second.promise_id) is not None
    # Still counted: the one EVSE is not promised twice, a third request waits.
    monkeypatch.undo()
    third = (await intake.submit(EMSP, ask("THIRD"))).booking
    assert third.state is BookingState.PENDING and third.waiting_until is not None


async def test_a_grant_that_lost_to_a_cancellation_gives_the_promise_back(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service(store, timeline, clock, evses=1, policy=policy_source(waitlist_minutes=30))
    intake = BookingIntake(svc)
    waiting = WaitingList(svc)
    first = (await intake.submit(EMSP, ask("FIRST"))).booking
    second = (await intake.submit(EMSP, ask("SECOND"))).booking
    seen = await svc.ledger.waiting("LOC1")
    # The waiting request is cancelled, then its capacity frees: the stale pass admits it
    # and loses the write to the cancellation.
    assert (await intake.submit(EMSP, ask("SECOND", canceled=CANCEL))).booking.state is \
        BookingState.CANCELED
    await svc.release_promise(first)

    async def stale(location_id: str) -> list[Booking]:
        return seen

    monkeypatch.setattr(svc.ledger, "waiting", stale)
    assert await waiting.grant("LOC1") == []
    assert await timeline.get("LOC1", second.promise_id) is None


async def test_capacity_freed_unoffered_goes_to_the_waiting_request_not_a_new_one(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    # Capacity can free where nothing offers it to the waiting list (an operator's edit of
    # the policy, read again by the next request): a request arriving next must not take
    # it from one that waited for it.
    svc = service(store, timeline, clock, evses=1, policy=policy_source(waitlist_minutes=30))
    intake = BookingIntake(svc)
    WaitingList(svc)
    first = (await intake.submit(EMSP, ask("FIRST"))).booking
    clock.advance(1)
    second = (await intake.submit(EMSP, ask("SECOND"))).booking
    assert second.state is BookingState.PENDING
    await svc.release_promise(first)  # freed, offered to nobody
    clock.advance(1)
    third = (await intake.submit(EMSP, ask("THIRD"))).booking
    granted = await svc.ledger.get(second.key)
    assert granted is not None and granted.state is BookingState.RESERVED
    assert third.state is BookingState.PENDING
