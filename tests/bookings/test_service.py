"""A booking's promise on the capacity timeline through its life: admitted, moved onto one EVSE
when bound (refused when that EVSE is promised to another), given back at every end, and the
freed capacity offered to the waiting list."""

from __future__ import annotations

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.records import Booking, BookingChoice
from ocpi_gateway.reservation_policy.bookings.service import (
    BookingService,
    booking_promises,
    need_of,
    promise_of,
    requested_evse,
)
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
)
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Verdict
from ocpi_gateway.reservation_policy.capacity.classes import Need
from tests.bookings.support import Clock, at, booking, service


async def _reserved(svc: BookingService, b: Booking) -> Booking:
    admission = await svc.reserve_promise(b)
    assert admission.ok, admission.describe()
    created = await svc.ledger.create(b)
    assert created is not None
    reserved = await svc.ledger.transition(created, BookingState.RESERVED, reason="admitted")
    assert reserved is not None
    return reserved


def test_the_promise_runs_from_the_lead_to_the_buffer_on_the_need() -> None:
    b = booking(start=600, minutes=60, power_required_kw=11,
                choice=BookingChoice(connector_types=("IEC_62196_T2",),
                                     power_types=("AC_3_PHASE",)))
    p = promise_of(b)
    assert (p.start, p.end) == (at(590), at(670))
    assert p.need == Need(frozenset({"IEC_62196_T2"}), frozenset({"AC_3_PHASE"}), 11000)
    assert p.evse_uid is None and p.promise_id == b.promise_id
    assert promise_of(b, evse_uid="E7").evse_uid == "E7"
    assert need_of(booking()) == Need()


def test_a_named_evse_binds_the_promise_and_hash_na_does_not() -> None:
    assert requested_evse(booking(choice=BookingChoice(evse_uid="E1"))) == "E1"
    assert requested_evse(booking(choice=BookingChoice(evse_uid="#NA"))) is None
    assert requested_evse(booking()) is None
    assert promise_of(booking(choice=BookingChoice(evse_uid="E1"))).evse_uid == "E1"
    assert promise_of(booking(evse_uid="E2", choice=BookingChoice(evse_uid="E1"))
                      ).evse_uid == "E2"


def test_only_reserved_bookings_are_rebuilt() -> None:
    reserved = booking("A", state=BookingState.RESERVED)
    other_site = booking("B", state=BookingState.RESERVED, location="LOC2")
    found = booking_promises([reserved, other_site, booking("C"),
                              booking("D", state=BookingState.CANCELED)])
    assert {k: [p.promise_id for p in v] for k, v in found.items()} == {
        "LOC1": [reserved.promise_id], "LOC2": [other_site.promise_id]}


async def test_binding_moves_the_promise_onto_the_evse(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    b = await _reserved(svc, booking())
    assert [x.key for x in await svc.due_for_binding(at(590))] == [b.key]
    clock.advance(590)
    result = await svc.mark_bound(b, evse_uid="E000", charge_point_id="CP000",
                                  ocpp_reservation_id=7)
    assert result.admission.ok and result.booking is not None
    bound = result.booking
    assert (bound.evse_uid, bound.charge_point_id, bound.ocpp_reservation_id) == (
        "E000", "CP000", 7)
    assert bound.bound_at == at(590) and bound.state is BookingState.RESERVED
    stored = await timeline.get("LOC1", b.promise_id)
    assert stored is not None and stored.evse_uid == "E000"
    assert await svc.due_for_binding() == []
    assert (await svc.ledger.get(b.key)) == bound


async def test_binding_onto_an_evse_promised_to_another_is_refused(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    first = await _reserved(svc, booking("A"))
    second = await _reserved(svc, booking("B"))
    result = await svc.mark_bound(first, evse_uid="E000", charge_point_id="CP000",
                                  ocpp_reservation_id=1)
    assert result.booking is not None
    refused = await svc.mark_bound(second, evse_uid="E000", charge_point_id="CP000",
                                   ocpp_reservation_id=2)
    assert refused.booking is None and refused.admission.verdict is Verdict.EVSE_TAKEN
    assert not (await svc.ledger.get(second.key) or second).bound
    still = await timeline.get("LOC1", second.promise_id)
    assert still is not None and still.evse_uid is None
    other = await svc.mark_bound(second, evse_uid="E001", charge_point_id="CP001",
                                 ocpp_reservation_id=2)
    assert other.booking is not None and other.booking.evse_uid == "E001"


async def test_only_a_reserved_booking_is_bound(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    with pytest.raises(ValueError, match="PENDING"):
        await svc.mark_bound(booking(), evse_uid="E000", charge_point_id="CP000",
                             ocpp_reservation_id=1)


@pytest.mark.parametrize("end", ["fulfil", "no_show", "cancel"])
async def test_every_end_gives_the_promise_back_and_offers_the_capacity(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock, end: str) -> None:
    svc = service(store, timeline, clock, evses=1)
    freed: list[str] = []

    async def hook(location_id: str) -> None:
        freed.append(location_id)

    svc.on_capacity_freed(hook)
    b = await _reserved(svc, booking())
    full = await svc.reserve_promise(booking("OTHER"))
    assert full.verdict is Verdict.FULL
    if end == "fulfil":
        ended = await svc.fulfil(b, reason="transaction_started")
        expected = BookingState.FULFILLED
    elif end == "no_show":
        ended = await svc.no_show(b)
        expected = BookingState.NO_SHOW
    else:
        ended = await svc.cancel_by_cpo(b, CancelReason.BROKEN_CHARGER, reason="no_evse_left")
        expected = BookingState.CANCELED
    assert ended is not None and ended.state is expected
    assert await timeline.get("LOC1", b.promise_id) is None
    assert freed == ["LOC1"]
    assert (await svc.reserve_promise(booking("OTHER"))).ok
    if end == "cancel":
        assert ended.canceled is not None
        assert (ended.canceled.reason, ended.canceled.by) == (CancelReason.BROKEN_CHARGER,
                                                              CanceledBy.CPO)
        assert ended.message == "no_evse_left"
    else:
        assert ended.canceled is None


async def test_an_end_lost_to_another_writer_keeps_the_promise(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    freed: list[str] = []

    async def hook(location_id: str) -> None:
        freed.append(location_id)

    svc.on_capacity_freed(hook)
    b = await _reserved(svc, booking())
    assert await svc.fulfil(b, reason="used") is not None
    await svc.reserve_promise(b)  # as if another writer's promise stood again
    assert await svc.no_show(b) is None  # stale: the fulfilment won
    assert await timeline.get("LOC1", b.promise_id) is not None
    assert freed == ["LOC1"]


async def test_a_failing_capacity_hook_does_not_stop_the_end(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    seen: list[str] = []

    async def broken(location_id: str) -> None:
        raise RuntimeError("hook bug")

    async def fine(location_id: str) -> None:
        seen.append(location_id)

    svc.on_capacity_freed(broken)
    svc.on_capacity_freed(fine)
    b = await _reserved(svc, booking())
    ended = await svc.no_show(b)
    assert ended is not None and seen == ["LOC1"]


async def test_due_for_noshow_goes_by_the_service_clock(
        store: DocumentStore, timeline: CapacityTimeline, clock: Clock) -> None:
    svc = service(store, timeline, clock)
    b = await _reserved(svc, booking(start=60))
    clock.advance(74)
    assert await svc.due_for_noshow() == []
    clock.advance(1)
    assert [x.key for x in await svc.due_for_noshow()] == [b.key]
