"""``ReservationCapacity`` on its own (the RESERVE_NOW side of the capacity timeline; the
engine's use of it is in tests/policy/test_capacity_gate.py): who sets a site's supply and
when, what a restore puts back, how a reservation and a booking's binding are promised."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.gate import (
    ReservationCapacity,
    promise_id,
    reservation_promises,
    stored_reservations,
)
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationRepository,
    ReservationState,
)
from ocpi_gateway.store.sqlite import SqliteStore
from tests.capacity.support import T0, Clock
from tests.policy.support import CCS, evse, grid

L = "LOC1"
BOOKINGS = {"enabled": True, "activation_lead_minutes": 10, "turnover_buffer_minutes": 10}


def policy(*, bookings: bool = True, walk_in: int = 0) -> PolicySource:
    defaults: dict[str, Any] = {"walk_in_reserve": walk_in}
    if bookings:
        defaults["bookings"] = BOOKINGS
    return PolicySource(policy=parse_policy({"defaults": defaults}))


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


@pytest.fixture
def timeline(clock: Clock) -> CapacityTimeline:
    return MemoryCapacity(clock=clock)


def gate(timeline: CapacityTimeline, clock: Clock, source: PolicySource | None = None
         ) -> ReservationCapacity:
    return ReservationCapacity(timeline, source or policy(), clock=clock)


async def version(timeline: CapacityTimeline) -> int:
    return (await timeline.changes(L, None)).version


async def test_applies_where_bookings_are_possible(timeline: CapacityTimeline,
                                                   clock: Clock) -> None:
    assert gate(timeline, clock).applies(L)
    assert not gate(timeline, clock, policy(bookings=False)).applies(L)


async def test_the_supply_is_set_on_first_touch_and_again_only_when_the_candidates_change(
        timeline: CapacityTimeline, clock: Clock) -> None:
    capacity = gate(timeline, clock)
    candidates = grid(2, per_charger=1)
    table = await capacity.ensure_site(L, candidates)
    assert sorted(table.evse_masks) == ["E000", "E001"]
    first = await version(timeline)
    assert first > 0
    # The same candidates (the same list, or an equal copy): nothing is written.
    assert await capacity.ensure_site(L, candidates) is table
    assert await capacity.ensure_site(L, list(candidates)) is table
    assert await version(timeline) == first
    # Another EVSE: the supply is set again and admission knows it.
    more = [*candidates, evse("E009", "CP009")]
    assert sorted((await capacity.ensure_site(L, more)).evse_masks) == [
        "E000", "E001", "E009"]
    assert await version(timeline) == first + 1
    await capacity.ensure_site(L, more)  # known now: not set a third time
    assert await version(timeline) == first + 1
    assert (await timeline.admit(L, Promise("p", minutes(0), minutes(30),
                                            evse_uid="E009"))).ok


async def test_the_first_touch_in_a_process_restores_the_stored_promises(
        timeline: CapacityTimeline, clock: Clock) -> None:
    capacity = gate(timeline, clock)

    async def stored(location_id: str, now: datetime) -> list[Promise]:
        return [Promise("kept", minutes(0), minutes(30), evse_uid="E000")]

    capacity.add_stored_promises(stored)
    await capacity.ensure_site(L, grid(2, per_charger=1))
    assert [p.promise_id for p in await timeline.promises(L, minutes(0), minutes(60))] == [
        "kept"]


async def test_restore_puts_back_every_stored_source_and_counts_what_it_added(
        timeline: CapacityTimeline, clock: Clock) -> None:
    capacity = gate(timeline, clock)
    asked: list[tuple[str, datetime]] = []

    def source(*promises: Promise) -> Any:
        async def stored(location_id: str, now: datetime) -> list[Promise]:
            asked.append((location_id, now))
            return list(promises)
        return stored

    capacity.add_stored_promises(source(Promise("a", minutes(0), minutes(30))))
    capacity.add_stored_promises(source(Promise("b", minutes(0), minutes(30)),
                                        Promise("c", minutes(40), minutes(50))))
    assert await capacity.restore(L, grid(2, per_charger=1)) == 3
    assert asked == [(L, T0), (L, T0)]
    ids = [p.promise_id for p in await timeline.promises(L, minutes(0), minutes(60))]
    assert ids == ["a", "b", "c"]
    assert await capacity.restore(L, grid(2, per_charger=1)) == 0  # all there already


async def test_a_reservation_is_promised_until_its_end_plus_the_buffer_and_released(
        timeline: CapacityTimeline, clock: Clock) -> None:
    capacity = gate(timeline, clock)
    settings = policy().effective(L)
    candidates = grid(1, per_charger=1)
    got = await capacity.admit(L, candidates, "E000", holder="R1", until=minutes(30),
                               settings=settings)
    assert got.ok
    held = await timeline.get(L, promise_id("R1", "E000"))
    assert held == Promise("R1|E000", T0, minutes(40), evse_uid="E000",
                           kind=PromiseKind.RESERVATION)
    # A booking in the buffer does not fit; after the buffer it does.
    assert not (await timeline.admit(L, Promise("b", minutes(35), minutes(60)))).ok
    assert (await timeline.admit(L, Promise("b", minutes(40), minutes(60)))).ok
    assert await capacity.release(L, "E000", holder="R1")
    assert await timeline.get(L, "R1|E000") is None
    assert not await capacity.release(L, "E000", holder="R1")
    # An EVSE added since: the admission sets the new supply before it asks.
    more = [*candidates, evse("E009", "CP009")]
    assert (await capacity.admit(L, more, "E009", holder="R2", until=minutes(30),
                                 settings=settings)).ok


async def test_the_walk_in_reserve_applies_to_reservations(timeline: CapacityTimeline,
                                                          clock: Clock) -> None:
    source = policy(walk_in=1)
    capacity = gate(timeline, clock, source)
    got = await capacity.admit(L, grid(1, per_charger=1), "E000", holder="R1",
                               until=minutes(30), settings=source.effective(L))
    assert got.verdict is Verdict.FULL


async def test_a_binding_moves_the_bookings_own_promise(timeline: CapacityTimeline,
                                                       clock: Clock) -> None:
    capacity = gate(timeline, clock)
    settings = policy().effective(L)
    candidates = grid(2, per_charger=1)
    # No source of booked promises: a binding is refused as invalid.
    assert (await capacity.admit(L, candidates, "E000", holder="R1", until=minutes(30),
                                 settings=settings, booking_key="B1")).verdict \
        is Verdict.INVALID
    asked: list[tuple[str, str, datetime]] = []
    live = {"B1": Promise("booking:B1", minutes(0), minutes(40))}

    async def booked(key: str, evse_uid: str, until: datetime) -> Promise | None:
        asked.append((key, evse_uid, until))
        found = live.get(key)
        return None if found is None else Promise(found.promise_id, found.start, until,
                                                  evse_uid=evse_uid)

    capacity.set_booked_promises(booked)
    assert (await capacity.admit(L, candidates, "E001", holder="R1", until=minutes(45),
                                 settings=settings, booking_key="B1")).ok
    assert asked == [("B1", "E001", minutes(45))]
    held = await timeline.promises(L, minutes(0), minutes(60))
    assert held == [Promise("booking:B1", minutes(0), minutes(45), evse_uid="E001")]
    # A booking no longer live is not bound.
    assert (await capacity.admit(L, candidates, "E000", holder="R2", until=minutes(45),
                                 settings=settings, booking_key="B2")).verdict \
        is Verdict.INVALID


async def test_a_site_the_timeline_lost_is_restored_by_the_admission(
        clock: Clock) -> None:
    timeline = MemoryCapacity(clock=clock)
    capacity = gate(timeline, clock)

    async def stored(location_id: str, now: datetime) -> list[Promise]:
        return [Promise("kept", minutes(0), minutes(30), evse_uid="E000")]

    capacity.add_stored_promises(stored)
    candidates = grid(2, per_charger=1)
    await capacity.ensure_site(L, candidates)
    await timeline.close()  # the timeline lost every site (Redis came back empty)
    got = await capacity.admit(L, candidates, "E001", holder="R1", until=minutes(20),
                               settings=policy().effective(L))
    assert got.ok
    ids = sorted(p.promise_id for p in await timeline.promises(L, minutes(0), minutes(60)))
    assert ids == ["R1|E001", "kept"]


async def test_interchangeable_evses_serve_the_same_classes(timeline: CapacityTimeline,
                                                           clock: Clock) -> None:
    capacity = gate(timeline, clock)
    assert capacity.interchangeable(L, "E000") == {"E000"}  # an unknown site
    candidates = [*grid(2, per_charger=1), evse("D1", "CP9", connectors=(CCS,))]
    await capacity.ensure_site(L, candidates)
    assert capacity.interchangeable(L, "E000") == {"E000", "E001"}
    assert capacity.interchangeable(L, "D1") == {"D1"}
    assert capacity.interchangeable(L, "gone") == {"gone"}


def reservation(key: str, *, state: ReservationState = ReservationState.ACTIVE,
                evse_uid: str | None = "E000", expiry: float = 30, grace: float = 0,
                booking_key: str | None = None, location: str = L) -> Reservation:
    return Reservation(key=key, country_code="NL", party_id="EXA", reservation_id=key,
                       location_id=location, token_uid="TOK", token_type="RFID",
                       expiry=minutes(expiry), state=state, evse_uid=evse_uid,
                       grace_seconds=grace, booking_key=booking_key)


def test_stored_reservations_become_promises_until_their_end_plus_the_buffer() -> None:
    source = PolicySource(policy=parse_policy({
        "defaults": {"bookings": BOOKINGS},
        "locations": {"NOBOOK": {"bookings": {"enabled": False}}},
        "partners": {"NL-EXA": {"bookings": {"turnover_buffer_minutes": 5}}}}))
    # Each skipped one before the kept one: one skipped is no reason to stop.
    rows = [reservation("ended", state=ReservationState.USED),
            reservation("unbound", evse_uid=None), reservation("over", expiry=-1),
            reservation("at-now", expiry=0), reservation("binding", booking_key="B1"),
            reservation("elsewhere", location="NOBOOK"), reservation("live", grace=60)]
    got = reservation_promises(rows, source, T0)
    assert got == {L: [Promise("live|E000", T0, minutes(30 + 1 + 5), evse_uid="E000",
                                 kind=PromiseKind.RESERVATION)]}


async def test_stored_reservations_are_read_per_location() -> None:
    store = await SqliteStore.open(":memory:")
    try:
        repo = ReservationRepository(store, clock=lambda: T0)
        for r in (reservation("a"), reservation("b", location="LOC2"),
                  reservation("c", state=ReservationState.CANCELLED)):
            assert await repo.start(r, None) is not None
        read = stored_reservations(repo, policy())
        assert [p.promise_id for p in await read(L, T0)] == ["a|E000"]
        assert [p.promise_id for p in await read("LOC3", T0)] == []
    finally:
        await store.close()
