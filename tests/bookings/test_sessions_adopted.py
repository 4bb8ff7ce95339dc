"""Adopting the transactions in progress the durable store holds (``SessionWatch.adopt``),
over both timeline backends and both stores, the test's clock: an instance that did not see
a transaction start (restarted, or the charger taken over) tracks it as if it had — the
estimate from its start, the booking it used — extends it and releases it at its end. Not
adopted: one tracked already, one whose EVSE shows free, one older than another on its EVSE,
one a day old. Two instances tracking one transaction both let it go once its end is
stored, and an EVSE with another car keeps that car's promise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest

from ocpi_gateway.domain.events import TransactionEnded, TransactionStarted
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.sessions import Ongoing
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from tests.bookings.binding import BindingSite, Instance
from tests.bookings.support import Clock, at
from tests.bookings.test_sessions import sessions, start


class Running:
    """The store's transactions in progress, as the test says (``SessionWatch.ongoing``)."""

    def __init__(self) -> None:
        self.now: list[Ongoing] = []
        self.broken = False
        self.while_read: Callable[[], Awaitable[None]] | None = None
        """Runs during the next read (what another task does meanwhile)."""

    async def __call__(self, charge_point_id: str | None) -> list[Ongoing]:
        if self.broken:
            raise OSError("the store is unreachable")
        if self.while_read is not None:
            meanwhile, self.while_read = self.while_read, None
            await meanwhile()
        return [o for o in self.now
                if charge_point_id is None or o.start.charge_point_id == charge_point_id]

    def add(self, site: BindingSite, uid: str, tx: str, since: datetime,
            id_token: str = "WALK", reservation_id: int | None = None) -> None:
        c = next(c for c in site.candidates if c.evse_uid == uid)
        self.now.append(Ongoing(TransactionStarted(
            charge_point_id=c.charge_point_id, transaction_id=tx, evse_id=c.address.evse_id,
            connector_id=1, id_token=id_token, reservation_id=reservation_id,
            timestamp=since), uid))

    def end(self, tx: str) -> None:
        self.now = [o for o in self.now if o.start.transaction_id != tx]


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock,
                          evses=3).ready()
    yield s
    await s.close()


def instance(site: BindingSite, running: Running) -> Instance:
    gw = site.instance()
    gw.sessions.ongoing = running
    return gw


async def known(gw: Instance, now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """What the instance tracks (what a restore puts back)."""
    return {p.evse_uid or "": (p.start, p.end)
            for p in await gw.sessions.stored("LOC1", now)}


async def test_an_adopted_session_is_extended_and_released_as_if_seen_starting(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    gone = instance(site, running)
    clock.now = at(0)
    await start(site, gone, "E000", "T0")
    running.add(site, "E000", "T0", at(0))
    # The instance that saw it is gone, and so is what the timeline held (in-process).
    await site.timeline.rebuild("LOC1", [])
    clock.now = at(30)
    gw = instance(site, running)
    assert await gw.sessions.adopt(gw.binder.free_now) == 1
    assert await sessions(site) == {"E000": (at(0), at(60))}  # from its start: an hour
    assert await known(gw, clock.now) == {"E000": (at(0), at(60))}
    assert await gw.sessions.adopt(gw.binder.free_now) == 0  # tracked already
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(70))}
    clock.now = at(65)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(80))}
    assert await gw.sessions.adopt(gw.binder.free_now) == 0  # its extension is kept
    assert await sessions(site) == {"E000": (at(0), at(80))}
    # Its end, as the charger reports it to this instance, takes it off.
    clock.now = at(72)
    await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="T0"))
    running.end("T0")
    assert await sessions(site) == {}
    assert await known(gw, clock.now) == {}


async def test_what_is_not_adopted(site: BindingSite, clock: Clock) -> None:
    running = Running()
    clock.now = at(0)
    # E000: a car whose end was never reported, then the one charging there now.
    running.add(site, "E000", "T-lost", at(-30))
    running.add(site, "E000", "T-now", at(-10))
    # E001 shows free: its car left while no instance saw it.
    running.add(site, "E001", "T-left", at(-20))
    # E002: charging for a day, no longer believed.
    running.add(site, "E002", "T-day", at(-24 * 60))
    await site.set_status("E000", EvseStatus.CHARGING)
    await site.set_status("E002", EvseStatus.CHARGING)
    gw = instance(site, running)
    assert await gw.sessions.adopt(gw.binder.free_now) == 1
    assert await sessions(site) == {"E000": (at(-10), at(50))}
    # The lost one's end, reported late, leaves the one charging.
    await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="T-lost"))
    assert await sessions(site) == {"E000": (at(-10), at(50))}


async def test_a_charger_connecting_adopts_only_its_own(site: BindingSite, clock: Clock
                                                       ) -> None:
    running = Running()
    gw = instance(site, running)
    clock.now = at(-10)
    await start(site, gw, "E002", "T2")  # seen starting here
    running.add(site, "E002", "T2", at(-10))
    running.add(site, "E000", "T0", at(-5))
    running.add(site, "E001", "T1", at(-5))
    await site.set_status("E000", EvseStatus.CHARGING)
    await site.set_status("E001", EvseStatus.CHARGING)
    clock.now = at(0)
    assert await gw.sessions.adopt(gw.binder.free_now, "CP001") == 1
    assert await known(gw, clock.now) == {"E002": (at(-10), at(50)),
                                          "E001": (at(-5), at(55))}
    # Every charger's (a start): the one seen here is kept as it is.
    assert await gw.sessions.adopt(gw.binder.free_now) == 1
    assert await known(gw, clock.now) == {"E002": (at(-10), at(50)),
                                          "E001": (at(-5), at(55)),
                                          "E000": (at(-5), at(55))}


@pytest.mark.parametrize("by_reservation", [True, False])
async def test_an_adopted_session_that_used_a_booking_ends_with_the_booking(
        site: BindingSite, clock: Clock, by_reservation: bool) -> None:
    running = Running()
    seen = instance(site, running)
    b = await site.bound(seen)
    assert b.evse_uid == "E000" and b.ocpp_reservation_id is not None
    clock.now = at(598)
    rid = b.ocpp_reservation_id if by_reservation else None
    await start(site, seen, "E000", "TB", "TOK1", rid)
    running.add(site, "E000", "TB", at(598), "TOK1", rid)
    await site.timeline.rebuild("LOC1", [])
    clock.now = at(640)
    gw = instance(site, running)
    assert await gw.sessions.adopt(gw.binder.free_now) == 1
    assert await sessions(site) == {"E000": (at(598), at(670))}  # slot end + buffer
    # It ends: no session of the site's history (one that used a booking joins none).
    await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="TB"))
    assert gw.sessions.expected("LOC1") == gw.sessions.default
    assert await sessions(site) == {}


async def test_an_unbooked_adopted_session_joins_the_history_from_its_start(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    await site.set_status("E000", EvseStatus.CHARGING)
    gw = instance(site, running)
    for i in range(5):
        running.add(site, "E000", f"T{i}", at(100 * i))
        clock.now = at(100 * i + 10)
        assert await gw.sessions.adopt(gw.binder.free_now, "CP000") == 1
        clock.now = at(100 * i + 40)
        await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id=f"T{i}"))
        running.end(f"T{i}")
    assert gw.sessions.expected("LOC1").total_seconds() == 40 * 60


async def test_two_instances_tracking_a_transaction_both_let_it_go_once_its_end_is_stored(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    holder = instance(site, running)
    clock.now = at(0)
    await start(site, holder, "E000", "T0")
    await start(site, holder, "E001", "T1")
    running.add(site, "E000", "T0", at(0))
    running.add(site, "E001", "T1", at(0))
    # Another instance starts: it adopts them too (one promise per EVSE, the same ones).
    other = instance(site, running)
    assert await other.sessions.adopt(other.binder.free_now) == 2
    assert await sessions(site) == {"E000": (at(0), at(60)), "E001": (at(0), at(60))}
    # The holder sees both end, E000's car still plugged in, a new car on E001.
    clock.now = at(50)
    await holder.event(TransactionEnded(charge_point_id="CP000", transaction_id="T0"))
    running.end("T0")
    await holder.event(TransactionEnded(charge_point_id="CP001", transaction_id="T1"))
    running.end("T1")
    await start(site, holder, "E001", "T2")
    running.add(site, "E001", "T2", at(50))
    assert await sessions(site) == {"E001": (at(50), at(110))}
    # Due to extend them, the other instance finds their ends stored: E000 is let go, and
    # the new car keeps its own promise.
    clock.now = at(55)
    await other.run()
    assert await sessions(site) == {"E001": (at(50), at(110))}
    assert await known(other, clock.now) == {}
    clock.now = at(70)
    await other.run()
    assert await sessions(site) == {"E001": (at(50), at(110))}


async def test_a_store_that_cannot_be_read_leaves_the_sessions_believed(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    gw = instance(site, running)
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    running.broken = True
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E000": (at(0), at(70))}


async def test_a_session_whose_end_is_stored_but_never_released_leaves_at_the_next_run(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    gw = instance(site, running)
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    running.add(site, "E000", "T0", at(0))
    # Its end reached the store only (the instance that saw it stopped before releasing).
    running.end("T0")
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {}
    assert await known(gw, clock.now) == {}


async def test_a_session_that_ends_while_a_run_reads_is_not_extended(
        site: BindingSite, clock: Clock) -> None:
    running = Running()
    gw = instance(site, running)
    clock.now = at(0)
    await start(site, gw, "E000", "T0")
    await start(site, gw, "E001", "T1")
    running.add(site, "E000", "T0", at(0))
    running.add(site, "E001", "T1", at(0))

    async def ends() -> None:
        await gw.event(TransactionEnded(charge_point_id="CP000", transaction_id="T0"))

    running.while_read = ends
    clock.now = at(55)
    await gw.run()
    assert await sessions(site) == {"E001": (at(0), at(70))}  # the next one still extended
    assert await known(gw, clock.now) == {"E001": (at(0), at(70))}


async def test_an_instance_without_the_store_adopts_nothing(site: BindingSite, clock: Clock
                                                           ) -> None:
    gw = site.instance()
    assert gw.sessions.ongoing is None
    assert await gw.sessions.adopt(gw.binder.free_now) == 0


async def test_a_charger_where_nobody_books_is_not_read(site: BindingSite, clock: Clock
                                                       ) -> None:
    running = Running()
    running.broken = True  # a read would fail
    gw = instance(site, running)
    assert await gw.sessions.adopt(gw.binder.free_now, "CP-ELSEWHERE") == 0
