"""A site where bookings are bound late, for the binder tests: one or more gateway instances
(each its reservation service, booking service and binder) sharing a durable store (real
SQLite), availability and a capacity timeline (in-process or a real redis-server), with
simulated chargers and the test's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, ReserveNow
from ocpi_gateway.domain.events import DomainEvent
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.reservation_policy.bookings.binder import BookingBinder
from ocpi_gateway.reservation_policy.bookings.fulfilment import BookingUse
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.sessions import SessionWatch
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
)
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import PolicySource
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationRepository,
    booked_reservation_id,
    reservation_key,
)
from tests.bookings.support import Clock, at, booking, policy_source
from tests.policy.support import SimChargers, StaticCandidates, grid


@dataclass
class ExpiringChargers(SimChargers):
    """Chargers that also end a reservation at its expiry (on the test's clock), as real
    ones do, and when a transaction consumes it (``consume``)."""

    clock: Callable[[], datetime] = field(default=Clock())
    expiries: dict[tuple[str, int], datetime] = field(default_factory=dict)
    sending: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a command is sent."""

    async def _execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        self.sending.set()
        now = self.clock()
        for key, expiry in list(self.expiries.items()):
            if expiry <= now:
                del self.expiries[key]
                self.reservations.pop(key, None)
        outcome = await super()._execute(command, timeout)
        if isinstance(command, ReserveNow) and outcome is CommandOutcome.ACCEPTED:
            self.expiries[(command.charge_point_id, command.reservation_id)] = command.expiry
        return outcome

    def consume(self, charge_point_id: str, reservation_id: int) -> None:
        self.reservations.pop((charge_point_id, reservation_id), None)
        self.expiries.pop((charge_point_id, reservation_id), None)


@dataclass(slots=True)
class Seen:
    """What a BindObserver was told."""

    bound: list[tuple[str, float]] = field(default_factory=list)
    occupied: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)


class _Observer:
    def __init__(self, seen: Seen) -> None:
        self._seen = seen

    def bound(self, booking: Booking, late_seconds: float) -> None:
        self._seen.bound.append((booking.key, late_seconds))

    def occupied(self, booking: Booking) -> None:
        self._seen.occupied.append(booking.key)

    def gave_up(self, booking: Booking) -> None:
        self._seen.gave_up.append(booking.key)


@dataclass(slots=True)
class Instance:
    reservations: ReservationService
    bookings: BookingService
    binder: BookingBinder
    use: BookingUse
    sessions: SessionWatch

    async def event(self, event: DomainEvent) -> None:
        """As the gateway's EventBus: the reservation service first, then bookings."""
        await self.reservations.handle_event(event)
        await self.use.on_event(event)
        await self.sessions.on_event(event)
        await self.reservations.drain()

    async def run(self) -> None:
        await self.binder.run()
        await self.reservations.drain()


class BindingSite:
    def __init__(self, store: DocumentStore, avail: AvailabilityStore,
                 timeline: CapacityTimeline, clock: Clock, *, evses: int = 2,
                 candidates: list[EvseCandidate] | None = None,
                 policy: PolicySource | None = None, **terms: Any) -> None:
        self.store = store
        self.avail = avail
        self.timeline = timeline
        self.clock = clock
        self.candidates = candidates or grid(evses, per_charger=1)
        self.policy = policy or policy_source(**terms)
        self.chargers = ExpiringChargers(clock=clock)
        self.seen = Seen()
        self.instances: list[Instance] = []

    async def ready(self) -> BindingSite:
        for c in self.candidates:
            await self.avail.set_status(c.location_id, c.evse_uid, EvseStatus.AVAILABLE,
                                        self.clock())
        return self

    def instance(self, *, charger_timeout: float = 0.5, page_size: int = 100) -> Instance:
        capacity = ReservationCapacity(self.timeline, self.policy, clock=self.clock)
        engine = PolicyEngine(self.policy, self.avail, clock=self.clock, capacity=capacity,
                              snapshot_ttl=0)
        candidates = StaticCandidates(self.candidates)
        reservations = ReservationService(
            engine=engine, store=self.store, commands=self.chargers, candidates=candidates,
            charger_timeout=charger_timeout, reroute_timeout=2 * charger_timeout,
            clock=self.clock)
        bookings = BookingService(BookingLedger(self.store, clock=self.clock), capacity,
                                  candidates, self.policy, clock=self.clock)
        binder = BookingBinder(bookings, reservations, time_budget=2 * charger_timeout,
                               observer=_Observer(self.seen), page_size=page_size)
        capacity.set_booked_promises(binder.booked_promise)
        reservations.add_listener(binder.on_reservation)
        bookings.ledger.add_listener(binder.on_booking)
        sites = self.candidates
        use = BookingUse(bookings, lambda cp: [c.location_id for c in sites
                                               if c.charge_point_id == cp])
        sessions = SessionWatch(bookings, use.sites)
        binder.sessions = sessions
        capacity.add_stored_promises(sessions.stored)
        inst = Instance(reservations, bookings, binder, use, sessions)
        self.instances.append(inst)
        return inst

    async def book(self, inst: Instance, request_id: str = "R1", **kw: Any) -> Booking:
        """A RESERVED booking, admitted on the timeline as the intake does."""
        b = booking(request_id, **kw)
        admission = await inst.bookings.reserve_promise(b)
        assert admission.ok, admission.describe()
        created = await inst.bookings.ledger.create(b)
        assert created is not None
        reserved = await inst.bookings.ledger.transition(created, BookingState.RESERVED,
                                                         reason="admitted")
        assert reserved is not None
        return reserved

    async def bound(self, inst: Instance, request_id: str = "R1", *, minute: float = 590,
                    **kw: Any) -> Booking:
        """A booking made, then the clock at ``minute`` (its binding time by default) and
        one binder run: the booking as stored after."""
        b = await self.book(inst, request_id, **kw)
        self.clock.now = at(minute)
        await inst.run()
        return await self.booking(b.key)

    async def promised(self, start: datetime, end: datetime) -> list[Promise]:
        """The promises over [start, end), not the sessions in progress beside them."""
        return [p for p in await self.timeline.promises("LOC1", start, end)
                if p.kind is not PromiseKind.SESSION]

    async def booking(self, key: str) -> Booking:
        found = await BookingLedger(self.store, clock=self.clock).get(key)
        assert found is not None
        return found

    async def reservation(self, b: Booking) -> Reservation | None:
        return await ReservationRepository(self.store).get(
            reservation_key(b.partner, booked_reservation_id(b.id)))

    async def set_status(self, evse_uid: str, status: EvseStatus) -> None:
        await self.avail.set_status("LOC1", evse_uid, status, self.clock())

    async def close(self) -> None:
        for inst in self.instances:
            await inst.reservations.drain()
            await inst.reservations.aclose()
