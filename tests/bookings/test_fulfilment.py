"""The issue's "Fulfilled" rule, both sides: a transaction with the binding's OCPP reservation
id, or started with a booking token inside [start - early_start, start + noshow_timeout] at the
booking's site, fulfils it; a transaction with the same token outside that window, at another
site, or with a booking not bound yet outside the window, does not (the booking is bound, or
bound again, as if nothing happened).

Times (tests/bookings/support.py TERMS): the slot starts at minute 600, binding at 590
(activation lead 10), the use window is [595, 615] (early start 5, no-show timeout 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.domain.events import TransactionStarted
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.bookings.binding import BindingSite, Instance
from tests.bookings.support import Clock, at, token
from tests.policy.support import evse, grid


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    # CP000 has E000 and E001; CP001 has E002 and E003; CP100 is at another site.
    candidates = [*grid(4, per_charger=2), evse("X000", "CP100", location="LOC2")]
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                          candidates=candidates).ready()
    yield s
    await s.close()


def started(cp: str, evse_id: int, id_token: str = "TOK1", *,
            reservation_id: int | None = None, tx: str = "T1") -> TransactionStarted:
    return TransactionStarted(charge_point_id=cp, transaction_id=tx, evse_id=evse_id,
                              connector_id=1, id_token=id_token,
                              reservation_id=reservation_id)


async def occupy(site: BindingSite) -> None:
    for c in site.candidates:
        if c.location_id == "LOC1":
            await site.set_status(c.evse_uid, EvseStatus.CHARGING)


async def occupied_at_binding(site: BindingSite, gw: Instance) -> Booking:
    """A booking whose binding found every EVSE of the site charging: still unbound."""
    b = await site.book(gw)
    await occupy(site)
    site.clock.now = at(590)
    await gw.run()
    waiting = await site.booking(b.key)
    assert not waiting.bound
    return waiting


async def test_unbound_in_the_window_a_token_session_fulfils_it(
        site: BindingSite, clock: Clock) -> None:
    """Every EVSE was occupied at binding time; one frees and the driver, on time, plugs in
    before the next try: the booking is used, and nothing is bound for it afterwards."""
    gw = site.instance()
    b = await occupied_at_binding(site, gw)
    await site.set_status("E002", EvseStatus.AVAILABLE)
    clock.now = at(597)
    await gw.event(started("CP001", 1, "tok1"))  # id tokens are case-insensitive
    done = await site.booking(b.key)
    assert done.state is BookingState.FULFILLED
    assert await site.promised(at(0), at(1000)) == []
    clock.now = at(600)
    await gw.run()
    assert site.chargers.reserve_nows() == []


async def test_unbound_before_the_window_a_token_session_does_not_fulfil_it(
        site: BindingSite, clock: Clock) -> None:
    """The same card charging earlier (not bound yet: before its binding time, then between
    the binding time and the window) is not the booking's use: bound as usual later."""
    gw = site.instance()
    b = await site.book(gw)
    clock.now = at(300)
    await gw.event(started("CP000", 1, tx="T-morning"))
    assert (await site.booking(b.key)).state is BookingState.RESERVED
    await occupy(site)
    clock.now = at(590)
    await gw.run()
    await site.set_status("E003", EvseStatus.AVAILABLE)
    clock.now = at(594.9)
    await gw.event(started("CP001", 2, tx="T-early"))
    waiting = await site.booking(b.key)
    assert (waiting.state, waiting.bound) == (BookingState.RESERVED, False)
    await site.set_status("E003", EvseStatus.CHARGING)
    await site.set_status("E000", EvseStatus.AVAILABLE)
    clock.now = at(596)
    await gw.run()
    bound = await site.booking(b.key)
    assert (bound.state, bound.evse_uid) == (BookingState.RESERVED, "E000")


async def test_after_the_noshow_time_a_token_session_does_not_fulfil_it(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await occupied_at_binding(site, gw)
    await site.set_status("E001", EvseStatus.AVAILABLE)
    clock.now = at(615.5)
    await gw.event(started("CP000", 2))
    assert (await site.booking(b.key)).state is BookingState.RESERVED
    await gw.run()
    assert (await site.booking(b.key)).state is BookingState.CANCELED


async def test_a_token_session_at_another_site_does_not_fulfil_it(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.bound(gw)
    clock.now = at(600)
    await gw.event(started("CP100", 1))
    still = await site.booking(b.key)
    assert (still.state, still.evse_uid) == (BookingState.RESERVED, "E000")
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.ACTIVE


async def test_bound_in_the_window_a_token_session_elsewhere_fulfils_it_and_frees_the_binding(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw, tokens=(token("A-LONG-APP-TOKEN-UID-0123456789"),))
    clock.now = at(590)
    await gw.run()
    bound = await site.booking(b.key)
    assert bound.charge_point_id == "CP000"
    clock.now = at(596)
    # A 1.6 charger knows a long uid by its digest.
    await gw.event(started("CP001", 1, ocpp16_id_tag("A-LONG-APP-TOKEN-UID-0123456789")))
    done = await site.booking(b.key)
    assert done.state is BookingState.FULFILLED
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.CANCELLED
    assert [c.reservation_id for c in site.chargers.cancels()] == [bound.ocpp_reservation_id]
    assert not (await site.avail.location("LOC1"))["E000"].holder


async def test_bound_before_the_window_the_token_on_the_bound_charger_does_not_fulfil_it(
        site: BindingSite, clock: Clock) -> None:
    """The driver starts on the bound charger's other EVSE 2 minutes after the binding, 3
    before the window: the reservation is used up at the charger, but the booking is not
    fulfilled; it is bound anew and a session in the window fulfils it."""
    gw = site.instance()
    b = first = await site.bound(gw)
    assert (first.charge_point_id, first.evse_uid) == ("CP000", "E000")
    clock.now = at(592)
    await site.set_status("E001", EvseStatus.CHARGING)
    await gw.event(started("CP000", 2, tx="T-early"))
    r = await site.reservation(b)
    assert r is not None and r.state is ReservationState.USED
    again = await site.booking(b.key)
    assert (again.state, again.bound) == (BookingState.RESERVED, False)
    [p] = await site.promised(at(0), at(1000))
    assert (p.promise_id, p.evse_uid) == (b.promise_id, None)
    clock.now = at(593)
    await gw.run()
    rebound = await site.booking(b.key)
    assert rebound.bound and rebound.ocpp_reservation_id != first.ocpp_reservation_id
    assert len(site.chargers.reserve_nows()) == 2
    clock.now = at(601)
    assert rebound.charge_point_id is not None
    await gw.event(started(rebound.charge_point_id, 1, tx="T-slot",
                           reservation_id=rebound.ocpp_reservation_id))
    assert (await site.booking(b.key)).state is BookingState.FULFILLED


async def test_the_reservation_id_fulfils_it_even_before_the_window(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = bound = await site.bound(gw)
    clock.now = at(591)
    await gw.event(started("CP000", 1, "SOMEONE-ELSE", reservation_id=bound.ocpp_reservation_id))
    assert (await site.booking(b.key)).state is BookingState.FULFILLED


async def test_one_transaction_uses_one_booking(site: BindingSite, clock: Clock) -> None:
    """Two bookings of one card whose windows overlap: the transaction on the first's
    binding fulfils that one only; a token session then fulfils the other."""
    gw = site.instance()
    first = await site.book(gw, "R1", start=600)
    second = await site.book(gw, "R2", start=610)
    clock.now = at(600)
    await gw.run()
    one = await site.booking(first.key)
    assert one.charge_point_id is not None
    await gw.event(started(one.charge_point_id, 1, reservation_id=one.ocpp_reservation_id))
    assert (await site.booking(first.key)).state is BookingState.FULFILLED
    assert (await site.booking(second.key)).state is BookingState.RESERVED
    clock.now = at(606)
    await gw.event(started("CP001", 2, tx="T2"))
    assert (await site.booking(second.key)).state is BookingState.FULFILLED
