"""Late binding: at ``start - activation_lead_minutes`` a booking becomes a reservation on one
free fitting EVSE, and its end follows that reservation's.

The binding is an ordinary reservation of the reservation service (same ordering rules, the
atomic pick-and-hold, ReserveNow, the next candidate on a refusal, re-route on a fault, the
expiry clock, recovery after a crash, "Reserved until" on the charger, the EVSE RESERVED in
Locations) with three differences carried by ``ReservationRequest.booking_key``: its terms are
not checked again, the walk-in reserve is not kept again (the booking was admitted with it),
and the booking's own promise on the capacity timeline moves onto the EVSE held
(``booked_promise``) instead of a second one being added.

Its reservation id is derived from the booking (``booked_reservation_id``), so it exists once
whichever instance binds and however often a run is repeated: a second instance (or a run
after a restart) finds the reservation made and only records it on the booking. The
ReserveNow's expiry is ``start + noshow_timeout_minutes``.

How it ends (``on_reservation``, and ``settle`` for an end whose listener a crash lost): as
its reservation ended (``binding_ends``: used → FULFILLED, or unbound again when used before
its window; expired → NO_SHOW; removed → CANCELED by the CPO, BROKEN_CHARGER); re-routed
→ bound again to the new EVSE. A booking still unbound at ``start + noshow_timeout_minutes``
(every fitting EVSE occupied at each try) → CANCELED by the CPO, FULL. A booking that ends
otherwise (the eMSP cancels) cancels its reservation (``on_booking``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.reservation_policy.bookings.binding_ends import BindingEnds
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import (
    BookingService,
    promise_of,
    requested_evse,
)
from ocpi_gateway.reservation_policy.bookings.sessions import SessionWatch
from ocpi_gateway.reservation_policy.bookings.shortage import to_bind_early
from ocpi_gateway.reservation_policy.bookings.states import (
    FINAL_STATES,
    BookingState,
    CancelReason,
)
from ocpi_gateway.reservation_policy.capacity.base import Promise
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveOutcome
from ocpi_gateway.reservation_policy.models import EvseCandidate, ReservationRequest
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationState,
    booked_reservation_id,
)

log = structlog.get_logger(__name__)

_FINAL = frozenset(s.value for s in FINAL_STATES)
EARLY_WITHIN = timedelta(minutes=60)
"""How far ahead the binder looks for bookings to bind early at a site running short."""
_HELD = frozenset({ReservationState.ACTIVE, ReservationState.REROUTED})


class BindObserver(Protocol):
    def bound(self, booking: Booking, late_seconds: float) -> None:
        """Bound, ``late_seconds`` after its binding time."""

    def occupied(self, booking: Booking) -> None:
        """A try found no fitting EVSE free (the previous driver still charging)."""

    def gave_up(self, booking: Booking) -> None:
        """Still unbound at its no-show time: CANCELED by the CPO."""


class _Quiet:
    def bound(self, booking: Booking, late_seconds: float) -> None:
        return None

    def occupied(self, booking: Booking) -> None:
        return None

    def gave_up(self, booking: Booking) -> None:
        return None


@dataclass(slots=True)
class BindReport:
    bound: list[str] = field(default_factory=list)
    occupied: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)
    """Bound before their binding time: the site ran short of free fitting EVSEs."""


def binding_request(booking: Booking) -> ReservationRequest:
    """The reservation that binds ``booking``: its first token, until its no-show time."""
    choice = booking.choice
    token = booking.tokens[0] if booking.tokens else None
    standards = choice.connector_types if choice is not None else ()
    return ReservationRequest(
        location_id=booking.location_id, evse_uid=requested_evse(booking),
        partner=booking.partner,
        token_uid=token.uid if token is not None else booking.authorization_reference,
        token_type=token.type if token is not None else "AD_HOC_USER",
        expiry=booking.noshow_at,
        # One connector standard is what the engine filters by; with several the timeline's
        # classes keep the count, and the charger's connector is the driver's choice.
        connector_standard=standards[0] if len(standards) == 1 else None,
        min_power_w=(booking.power_required_kw or 0) * 1000 or None,
        booking_key=booking.key)


class BookingBinder:
    def __init__(self, service: BookingService, reservations: ReservationService, *,
                 time_budget: float = 30.0, observer: BindObserver | None = None,
                 page_size: int = 100, concurrency: int = 32,
                 early_within: timedelta = EARLY_WITHIN) -> None:
        self.service = service
        self.page_size = page_size
        self.concurrency = concurrency
        self.early_within = early_within
        self._early: set[str] = set()
        """Bookings being bound before their binding time, now (``booked_promise``)."""
        self._binding: dict[str, Booking | None] = {}
        """Bookings ``bind`` is binding now: what the listener recorded on each meanwhile
        (``on_reservation`` runs inside ``reserve``), so that ``bind`` need not read it
        again."""
        self.reservations = reservations
        self.time_budget = time_budget
        self.observer: BindObserver = observer or _Quiet()
        self.sessions: SessionWatch | None = None
        """Sessions in progress on the timeline, brought up to date by each run."""
        self._ends = BindingEnds(service, reservations)

    async def booked_promise(self, booking_key: str, evse_uid: str, until: datetime
                             ) -> Promise | None:
        """``ReservationCapacity.set_booked_promises``: the booking's promise on
        ``evse_uid``, long enough for the hold (the no-show time may pass the slot's end)."""
        booking = await self.service.ledger.get(booking_key)
        if booking is None or booking.state is not BookingState.RESERVED:
            return None
        promise = promise_of(booking, evse_uid=evse_uid)
        buffer = timedelta(minutes=booking.terms.turnover_buffer_minutes)
        # Bound early (the site ran short), the EVSE is held from now: counted from now.
        # Any other caller (a binding at its time, a re-route) gets the booking's interval.
        start = (min(promise.start, self.service.clock()) if booking_key in self._early
                 else promise.start)
        return replace(promise, start=start, end=max(promise.end, until + buffer))

    async def run(self, now: datetime | None = None) -> BindReport:
        """One pass: bind every booking due, end every one over (all of them, page by
        page: a booking tried again while its EVSEs are occupied holds up no other), up to
        ``concurrency`` at once: a binding waits for its charger's answer, and one after
        the other 10,000 due in one minute took 58 s."""
        now = now or self.service.clock()
        report = BindReport()
        ledger = self.service.ledger

        async def bind(booking: Booking) -> None:
            bound = await self.bind(booking)
            (report.bound if bound is not None and bound.bound
             else report.occupied).append(booking.key)

        async def settle(booking: Booking) -> None:
            ended = await self.settle(booking)
            if ended is not None and not ended.live:
                report.ended.append(booking.key)

        if self.sessions is not None:
            await self.sessions.refresh(self.free_now, now)
        await self._each(ledger.walk_due_for_binding(now, self.page_size), bind,
                         skip=lambda b: b.noshow_at <= now)  # settled below
        if self.early_within > timedelta(0):
            await self._bind_short(now, report)
        await self._each(ledger.walk_due_for_noshow(now, self.page_size), settle)
        return report

    async def _bind_short(self, now: datetime, report: BindReport) -> None:
        """Bind now the bookings due within ``early_within`` at sites running short of
        free EVSEs that fit them (``shortage``)."""
        soon: dict[str, list[Booking]] = {}
        async for page in self.service.ledger.walk_due_for_binding(now + self.early_within,
                                                                   self.page_size):
            for b in page:
                if b.bind_at > now:
                    soon.setdefault(b.location_id, []).append(b)
        for location_id, pending in soon.items():
            candidates = await self.service.candidates.candidates(location_id)
            table = await self.service.capacity.ensure_site(location_id, candidates)
            free = await self.free_now(location_id, candidates)
            # Held now, free by then: what a promise on the EVSE ends at, or a session in
            # progress its estimate (busy-day benchmark: counting them taken held more EVSEs
            # early, seed 1 turned away 33 walk-ins, not 18, for the same bookings on time).
            freeing: dict[str, datetime] = {}
            for p in await self.service.capacity.timeline.promises(
                    location_id, now, now + self.early_within):
                if p.evse_uid is not None and p.evse_uid not in free:
                    freeing[p.evse_uid] = max(p.end, freeing.get(p.evse_uid, p.end))
            for booking in to_bind_early(pending, free, table, freeing):
                bound = await self.bind(booking, early=True)
                if bound is not None and bound.bound:
                    report.early.append(booking.key)

    async def free_now(self, location_id: str,
                    candidates: Sequence[EvseCandidate] | None = None) -> set[str]:
        """The site's reservable EVSEs that show free now."""
        if candidates is None:
            candidates = await self.service.candidates.candidates(location_id)
        seen = await self.reservations.engine.availability.location(location_id)
        return {c.evse_uid for c in candidates
                if c.reservable and (a := seen.get(c.evse_uid)) is not None and a.is_free}

    async def _each(self, pages: AsyncIterator[list[Booking]],
                    act: Callable[[Booking], Awaitable[None]], *,
                    skip: Callable[[Booking], bool] = lambda _: False) -> None:
        """``act`` on every booking of ``pages``, ``concurrency`` at a time, reading on while
        they run. One that fails is logged and leaves the others to go on."""
        slots = asyncio.Semaphore(self.concurrency)

        async def one(booking: Booking) -> None:
            try:
                await act(booking)
            except Exception:
                log.exception("booking_binder_failed", **booking.ids)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            async for page in pages:
                for booking in page:
                    if skip(booking):
                        continue
                    await slots.acquire()
                    group.create_task(one(booking))

    async def bind(self, booking: Booking, *, early: bool = False) -> Booking | None:
        """Bind one due booking; the booking as it stands after (still unbound when nothing
        fitting was free: the next run tries again). ``early``: before its binding time, a
        try that finds nothing (or does not fit on the timeline from now) is no failure."""
        rid = booked_reservation_id(booking.id)
        existing = await self.reservations.get(booking.partner, rid)
        if existing is not None and existing.live:
            if existing.state in _HELD:
                return await self._follow(booking, existing)
            return booking  # a ReserveNow in flight (here or on another instance)
        if early:
            self._early.add(booking.key)
        self._binding[booking.key] = None
        try:
            result = await self.reservations.reserve(binding_request(booking), rid,
                                                     time_budget=self.time_budget)
        finally:
            self._early.discard(booking.key)
            followed = self._binding.pop(booking.key, None)
        if result.outcome is ReserveOutcome.ACCEPTED and result.reservation is not None:
            r = result.reservation
            if followed is not None and (followed.evse_uid, followed.ocpp_reservation_id) \
                    == (r.evse_uid, r.ocpp_reservation_id):
                return followed
            return await self._follow(booking, r)
        log.info("booking_early_bind_refused" if early else "booking_bind_occupied",
                 outcome=result.outcome.value, why=result.message, **booking.ids)
        if not early:
            self.observer.occupied(booking)
        await self._ends.unbind_promise(booking)
        return booking

    async def _follow(self, booking: Booking, r: Reservation, *, read: bool = True
                      ) -> Booking | None:
        """Record the reservation's EVSE on the booking (bound, or bound again after a
        re-route); a booking that ended meanwhile gives the reservation back. ``read``:
        ``booking`` may be stale (else the caller has just read it)."""
        current = await self.service.ledger.get(booking.key) if read else booking
        if current is None or current.state is not BookingState.RESERVED:
            self._cancel_reservation(r)
            return current
        assert r.evse_uid is not None and r.charge_point_id is not None
        assert r.ocpp_reservation_id is not None
        if (current.evse_uid, current.ocpp_reservation_id) == (r.evse_uid,
                                                               r.ocpp_reservation_id):
            return current
        first = not current.bound
        result = await self.service.mark_bound(
            current, evse_uid=r.evse_uid, charge_point_id=r.charge_point_id,
            ocpp_reservation_id=r.ocpp_reservation_id,
            reason="bound" if first else "re-routed")
        if result.booking is None:
            return await self.service.ledger.get(booking.key)
        if first:
            late = (self.service.clock() - current.bind_at).total_seconds()
            self.observer.bound(result.booking, max(0.0, late))
            log.info("booking_bound", late_seconds=round(late, 3), **result.booking.ids)
        return result.booking

    def _cancel_reservation(self, r: Reservation) -> None:
        # In the background: a listener may run under the reservation's own lock.
        if r.live:
            self.reservations.in_background(
                self.reservations.cancel(r.partner, r.reservation_id))

    async def settle(self, booking: Booking) -> Booking | None:
        """A RESERVED booking past its no-show time: unbound, it is CANCELED (FULL); bound,
        its reservation's end decides (the expiry clock ends that one)."""
        rid = booked_reservation_id(booking.id)
        r = await self.reservations.get(booking.partner, rid)
        if not booking.bound:
            if r is not None and r.live:
                return booking  # a ReserveNow in flight: its answer decides
            self.observer.gave_up(booking)
            return await self.service.cancel_by_cpo(
                booking, CancelReason.FULL,
                reason="no fitting EVSE was free by the no-show time (the chargers are "
                       "occupied)")
        if r is None or r.live:
            return booking
        return await self._ends.ended(booking, r)

    async def on_reservation(self, r: Reservation, previous: ReservationState) -> None:
        """A ``ReservationService`` listener: the booking follows its binding."""
        if r.booking_key is None:
            return
        booking = await self.service.ledger.get(r.booking_key)
        if booking is None or booking.id != _booking_id(r):
            return
        if r.state in _HELD:
            followed = await self._follow(booking, r, read=False)
            if booking.key in self._binding:
                self._binding[booking.key] = followed
        elif not r.live and booking.state is BookingState.RESERVED:
            await self._ends.ended(booking, r, self.service.clock())

    async def on_booking(self, event: BookingTransitioned) -> None:
        """A ``BookingLedger`` listener: a booking that ended while bound (the eMSP
        cancelled) gives its reservation back at the charger."""
        if event.state not in _FINAL or event.previous in _FINAL or event.evse_uid is None:
            return
        booking = await self.service.ledger.get(event.booking_key)
        if booking is None:
            return
        r = await self.reservations.get(booking.partner, booked_reservation_id(booking.id))
        if r is not None:
            self._cancel_reservation(r)


def _booking_id(r: Reservation) -> str:
    return r.reservation_id.removeprefix(booked_reservation_id(""))
