"""A booking's life after it is RESERVED: its promise on the capacity timeline, its binding
onto an EVSE, and its end (FULFILLED, NO_SHOW, CANCELED). The late-binding scheduler, the
fulfilment and no-show detection and the re-route call these; requests from the eMSP go
through ``intake``.

Every end gives the promise back and then offers the freed capacity to the site's waiting
list (``on_capacity_freed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.booking_terms import promise_interval
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import Booking, Cancellation
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
)
from ocpi_gateway.reservation_policy.capacity.base import (
    Admission,
    Promise,
    PromiseKind,
    Verdict,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.core import CandidateSource
from ocpi_gateway.reservation_policy.policy import PolicySource

log = structlog.get_logger(__name__)

NO_EVSE = "#NA"
"""BookingOption.evse_uid when no EVSE is assigned yet."""

CapacityFreed = Callable[[str], Awaitable[object]]
"""Called with a location id after capacity there was given back."""


def need_of(booking: Booking) -> Need:
    """What the booking can charge with: the connector and power types of its BookingOption
    (empty: any) and at least its ``power_required`` (kW)."""
    choice = booking.choice
    return Need(frozenset(choice.connector_types) if choice else frozenset(),
                frozenset(choice.power_types) if choice else frozenset(),
                (booking.power_required_kw or 0) * 1000)


def requested_evse(booking: Booking) -> str | None:
    uid = booking.choice.evse_uid if booking.choice is not None else None
    return uid if uid and uid != NO_EVSE else None


def promise_of(booking: Booking, *, evse_uid: str | None = None) -> Promise:
    """The booking's promise: from start - activation lead to end + turnover buffer, on the
    EVSE it is bound to (or names), else on any EVSE its need accepts."""
    start, end = promise_interval(booking.terms, booking.start, booking.end)
    bound = evse_uid or booking.evse_uid or requested_evse(booking)
    return Promise(booking.promise_id, start, end, need_of(booking), bound,
                   PromiseKind.BOOKING)


def booking_promises(bookings: Iterable[Booking]) -> dict[str, list[Promise]]:
    """The promises of stored RESERVED bookings by location: what
    ``CapacityTimeline.rebuild`` puts back beside the reservations' when Redis lost them."""
    by_location: dict[str, list[Promise]] = {}
    for b in bookings:
        if b.state is BookingState.RESERVED:
            by_location.setdefault(b.location_id, []).append(promise_of(b))
    return by_location


def _covers(held: Promise, wanted: Promise) -> bool:
    """``held`` is ``wanted`` on the same EVSE, or the same held longer (from earlier: bound
    early; or later), to the millisecond a timeline keeps."""
    return (held.evse_uid == wanted.evse_uid and held.need == wanted.need
            and ms(held.start) <= ms(wanted.start) and ms(held.end) >= ms(wanted.end)
            and held.kind is wanted.kind)


@dataclass(frozen=True, slots=True)
class BindResult:
    booking: Booking | None
    """The booking bound; None when the EVSE could not be promised or another writer won."""
    admission: Admission


class BookingService:
    """What the scheduler, the charger events and the intake share: the ledger, the
    capacity timeline (through the RESERVE_NOW gate, which owns each site's supply), the
    policy and the clock."""

    def __init__(self, ledger: BookingLedger, capacity: ReservationCapacity,
                 candidates: CandidateSource, policy: PolicySource, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.ledger = ledger
        self.capacity = capacity
        self.candidates = candidates
        self.policy = policy
        self.clock = clock
        self._freed: list[CapacityFreed] = []

    def on_capacity_freed(self, hook: CapacityFreed) -> None:
        self._freed.append(hook)

    async def capacity_freed(self, location_id: str) -> None:
        for hook in self._freed:
            try:
                await hook(location_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("booking_capacity_hook_failed", location_id=location_id)

    async def reserve_promise(self, booking: Booking, *, amend: bool = False,
                              sessions: bool = True) -> Admission:
        """Admit (or, for a change, amend) the booking's promise; one atomic step. Beside the
        sessions in progress, unless it puts back a promise counted already (``sessions``
        False: a binding that failed, a change lost to another writer)."""
        candidates = await self.candidates.candidates(booking.location_id)
        await self.capacity.ensure_site(booking.location_id, candidates)
        reserve = self.policy.effective(booking.location_id, booking.partner).walk_in_reserve
        timeline = self.capacity.timeline
        promise = promise_of(booking)
        if amend:
            return await timeline.amend(booking.location_id, promise, reserve=reserve,
                                        sessions=sessions)
        return await timeline.admit(booking.location_id, promise, reserve=reserve,
                                    sessions=sessions)

    async def release_promise(self, booking: Booking) -> None:
        await self.capacity.timeline.release(booking.location_id, booking.promise_id)

    # --- the typed interface of the scheduler and the charger events ---------------------

    async def due_for_binding(self, now: datetime | None = None, limit: int = 100
                              ) -> list[Booking]:
        return await self.ledger.due_for_binding(now or self.clock(), limit)

    async def due_for_noshow(self, now: datetime | None = None, limit: int = 100
                             ) -> list[Booking]:
        return await self.ledger.due_for_noshow(now or self.clock(), limit)

    async def mark_bound(self, booking: Booking, *, evse_uid: str, charge_point_id: str,
                         ocpp_reservation_id: int, reason: str = "bound") -> BindResult:
        """Bind a RESERVED booking to ``evse_uid``: its promise moves onto that EVSE (one
        atomic amend: refused when the EVSE is promised to another), then the record keeps
        the EVSE and the OCPP reservation id. A re-route binds again to another EVSE."""
        if booking.state is not BookingState.RESERVED:
            raise ValueError(f"binding a {booking.state.value} booking")
        candidates = await self.candidates.candidates(booking.location_id)
        await self.capacity.ensure_site(booking.location_id, candidates)
        reserve = self.policy.effective(booking.location_id, booking.partner).walk_in_reserve
        promise = promise_of(booking, evse_uid=evse_uid)
        timeline = self.capacity.timeline
        held = await timeline.get(booking.location_id, booking.promise_id)
        if held is not None and _covers(held, promise):
            # The binding's hold moved the promise onto the EVSE already (in the same atomic
            # step that checked it): a second check would cost a second admission, and its
            # amend would cut the hold's promise (to the no-show time) back to the slot's.
            admission = Admission(Verdict.ADMITTED)
        else:
            # Counted when it was booked: the cars charging now do not undo that.
            admission = await timeline.amend(booking.location_id, promise, reserve=reserve,
                                             sessions=False)
        if not admission.ok:
            log.info("booking_bind_refused", wanted=evse_uid, why=admission.describe(),
                     **booking.ids)
            return BindResult(None, admission)
        bound = await self.ledger.transition(
            booking, BookingState.RESERVED, reason=reason, evse_uid=evse_uid,
            charge_point_id=charge_point_id, ocpp_reservation_id=ocpp_reservation_id,
            bound_at=self.clock())
        return BindResult(bound, admission)

    async def fulfil(self, booking: Booking, *, reason: str) -> Booking | None:
        """A session used it (the OCPP reservation id, or a booking token in its window)."""
        return await self._end(booking, BookingState.FULFILLED, reason)

    async def no_show(self, booking: Booking, *, reason: str = "no_show") -> Booking | None:
        return await self._end(booking, BookingState.NO_SHOW, reason)

    async def cancel_by_cpo(self, booking: Booking, why: CancelReason, *, reason: str
                            ) -> Booking | None:
        """The CPO cancels (broken charger, occupied until the no-show time...)."""
        return await self._end(booking, BookingState.CANCELED, reason,
                               canceled=Cancellation(why, CanceledBy.CPO), message=reason)

    async def extend_by_cpo(self, booking: Booking, end: datetime, *, reason: str
                            ) -> tuple[Booking | None, Admission]:
        """The CPO gives a RESERVED booking a later end (the eMSP is pushed the Booking by
        the ledger's listener): its promise grows first, one atomic amend refused when the
        capacity is promised to others, then the record. The booking None with the
        admission when refused; None with an admitted one when another writer won (the
        promise is then put back as the stored booking has it)."""
        if booking.state is not BookingState.RESERVED or end <= booking.end:
            raise ValueError(f"extending a {booking.state.value} booking to {end}")
        admission = await self._amend(replace(booking, end=end))
        if not admission.ok:
            return None, admission
        extended = await self.ledger.transition(booking, BookingState.RESERVED,
                                                reason=reason, end=end)
        if extended is None:
            stored = await self.ledger.get(booking.key)
            if stored is not None and stored.state is BookingState.RESERVED:
                await self._amend(stored)
        return extended, admission

    async def _amend(self, booking: Booking) -> Admission:
        # A bound booking's promise also covers its hold, which runs to the no-show time
        # (``BookingBinder.booked_promise``).
        promise = promise_of(booking)
        if booking.bound:
            buffer = timedelta(minutes=booking.terms.turnover_buffer_minutes)
            promise = replace(promise, end=max(promise.end, booking.noshow_at + buffer))
        candidates = await self.candidates.candidates(booking.location_id)
        await self.capacity.ensure_site(booking.location_id, candidates)
        reserve = self.policy.effective(booking.location_id, booking.partner).walk_in_reserve
        return await self.capacity.timeline.amend(booking.location_id, promise,
                                                  reserve=reserve)

    async def _end(self, booking: Booking, state: BookingState, reason: str, *,
                   canceled: Cancellation | None = None, message: str | None = None
                   ) -> Booking | None:
        ended = await self.ledger.transition(booking, state, reason=reason, message=message,
                                             canceled=canceled or booking.canceled)
        if ended is not None:
            await self.release_promise(ended)
            await self.capacity_freed(ended.location_id)
        return ended
