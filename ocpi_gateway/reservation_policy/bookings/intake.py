"""An eMSP's booking requests: a new booking, a change (the same ``request_id`` again), a
cancellation (``canceled`` set), decided against the booking terms and the capacity timeline.

A new request is stored PENDING first (so that a crash half-way leaves a record the sweeper
ends FAILED, never a promise nobody knows of), then admitted in one atomic step: RESERVED, or
PENDING on the waiting list (``waitlist_minutes``), or REJECTED with the nearest free
timeslots in the message. A request outside the terms is REJECTED (a change or cancellation
DECLINED) with a message naming the term. Each request appends a ``RequestEntry`` decided once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from uuid import uuid4

import structlog

from ocpi_gateway.reservation_policy.booking_terms import (
    TermViolation,
    check_booking,
    check_cancel,
    check_change,
)
from ocpi_gateway.reservation_policy.bookings.alternatives import nearest_message
from ocpi_gateway.reservation_policy.bookings.records import (
    Booking,
    BookingAsk,
    RequestEntry,
    booking_key,
)
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.capacity.base import Admission, Verdict
from ocpi_gateway.reservation_policy.engine import AdmissionRule, Refusal
from ocpi_gateway.reservation_policy.models import Partner

log = structlog.get_logger(__name__)

SiteZone = Callable[[str], tzinfo]
"""The time zone of a site (the timeslot grid counts from its midnight)."""

_WAITABLE = frozenset({Verdict.FULL, Verdict.EVSE_TAKEN})
NOT_PROCESSED = "the request could not be processed"
"""Refusals that capacity freeing up later can turn around (not NO_CLASS, INVALID...)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The synchronous answer to a request: the booking as it stands, and the message of the
    answer (the term broken, the instant full and the nearest free timeslots, the wait)."""

    booking: Booking
    message: str | None = None


def _term_message(violation: TermViolation) -> str:
    return f"{violation.term}: {violation.message}"


def _utc(_: str) -> tzinfo:
    return UTC


def token_refusal(partner: Partner, ask: BookingAsk) -> str | None:
    """A booking may name only tokens of the eMSP that books (as RESERVE_NOW's token)."""
    for t in ask.tokens:
        if (t.country_code.upper(), t.party_id.upper()) != (partner.country_code.upper(),
                                                            partner.party_id.upper()):
            return (f"booking_tokens: token {t.uid} belongs to {t.country_code}-{t.party_id}, "
                    "not to the requesting eMSP")
    return None


class BookingIntake:
    def __init__(self, service: BookingService, *, site_zone: SiteZone = _utc,
                 tariff_ids: Callable[[str], tuple[str, ...]] | None = None,
                 admission: AdmissionRule | None = None) -> None:
        self.service = service
        self.admission = admission
        """The rule RESERVE_NOW consults too (enforcement: banned tokens, the eMSP's
        no-show rate), asked for every new booking."""
        self._zone = site_zone
        self._tariff_ids = tariff_ids
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        """Requests under one key run one after another on this instance (other instances
        are kept out by the ledger's compare-and-set)."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]

    async def submit(self, partner: Partner, ask: BookingAsk) -> Answer:
        """Decide one request of ``partner`` (whose ownership of the tokens the caller has
        checked). Never raises for what the eMSP sent: every outcome is a Booking."""
        key = booking_key(partner, ask.request_id)
        async with self._lock(key):
            for _ in range(3):
                current = await self.service.ledger.get(key)
                if current is not None and current.live:
                    answer = await (self._cancel(current, ask) if ask.is_cancellation
                                    else self._change(current, ask))
                elif ask.is_cancellation:
                    return self._nothing_to_cancel(partner, ask, current)
                else:
                    answer = await self._new(partner, ask, key, current)
                if answer is not None:
                    return answer
            raise RuntimeError(f"booking {key}: lost three writes in a row")

    # --- a new booking -------------------------------------------------------------------

    async def _new(self, partner: Partner, ask: BookingAsk, key: str,
                   previous: Booking | None) -> Answer | None:
        svc = self.service
        now = svc.clock()
        terms = svc.policy.effective(ask.location_id, partner).bookings
        tariffs = self._tariff_ids(ask.location_id) if self._tariff_ids else ()
        fresh = Booking(
            key=key, id=str(uuid4()), country_code=partner.country_code,
            party_id=partner.party_id, request_id=ask.request_id, location_id=ask.location_id,
            booking_location_id=ask.booking_location_id, start=ask.start, end=ask.end,
            authorization_reference=ask.authorization_reference, terms=terms,
            state=BookingState.PENDING, tokens=ask.tokens, access=ask.access,
            choice=ask.choice, power_required_kw=ask.power_required_kw, tariff_ids=tariffs,
            requests=(RequestEntry(RequestStatus.PENDING, ask, now),))
        created = await svc.ledger.create(fresh, previous)
        if created is None:
            return None
        foreign = token_refusal(partner, ask)
        if foreign is not None:
            return await self._refuse(created, foreign, "foreign_token")
        violation = check_booking(terms, ask.start, ask.end, now,
                                  site_zone=self._zone(ask.location_id))
        if violation is not None:
            return await self._refuse(created, _term_message(violation), "outside_terms")
        refusal = await self._admission_refusal(partner, ask)
        if refusal is not None:
            return await self._refuse(created, refusal.message, refusal.reason.value)
        # First come first served: the site's waiting requests before this one.
        await svc.capacity.waiting_first(ask.location_id)
        try:
            admission = await svc.reserve_promise(created)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("booking_admission_failed", **created.ids)
            failed = await svc.ledger.transition(
                created, BookingState.FAILED, reason="admission_error",
                decide=RequestStatus.FAILED, message=NOT_PROCESSED)
            return Answer(failed or created, NOT_PROCESSED)
        if admission.ok:
            reserved = await svc.ledger.transition(created, BookingState.RESERVED,
                                                   reason="admitted",
                                                   decide=RequestStatus.ACCEPTED)
            if reserved is None:  # another writer ended it meanwhile: give the promise back
                await svc.release_promise(created)
                return None
            return Answer(reserved)
        return await self._not_admitted(created, admission, now)

    async def _admission_refusal(self, partner: Partner, ask: BookingAsk) -> Refusal | None:
        """The first of the booking's tokens the admission rule refuses (a booking without
        tokens: the eMSP alone, for its no-show rate)."""
        if self.admission is None:
            return None
        for uid in [t.uid for t in ask.tokens] or [""]:
            refusal = await self.admission.refusal(partner, uid, ask.location_id)
            if refusal is not None:
                return refusal
        return None

    async def _not_admitted(self, booking: Booking, admission: Admission, now: datetime
                            ) -> Answer | None:
        svc = self.service
        nearest = await nearest_message(svc, booking, now)
        why = f"{admission.describe()}; {nearest}"
        wait = booking.terms.waitlist_minutes
        if wait > 0 and admission.verdict in _WAITABLE:
            until = min(now + timedelta(minutes=wait), booking.bind_at)
            if until > now:
                message = f"waiting until {until.isoformat()} for capacity: {why}"
                waiting = await svc.ledger.transition(booking, BookingState.PENDING,
                                                      reason="waiting", waiting_until=until,
                                                      message=message)
                return Answer(waiting, message) if waiting is not None else None
        return await self._refuse(booking, why, "not_admitted")

    async def _refuse(self, booking: Booking, message: str, reason: str) -> Answer | None:
        rejected = await self.service.ledger.transition(
            booking, BookingState.REJECTED, reason=reason, decide=RequestStatus.DECLINED,
            message=message)
        return Answer(rejected, message) if rejected is not None else None

    def _nothing_to_cancel(self, partner: Partner, ask: BookingAsk, current: Booking | None
                           ) -> Answer:
        if current is not None:
            return Answer(current, f"the booking is {current.state.value}: nothing to cancel")
        raise UnknownBooking(f"no booking with request_id {ask.request_id}")

    # --- a change ------------------------------------------------------------------------

    async def _change(self, current: Booking, ask: BookingAsk) -> Answer | None:
        svc = self.service
        now = svc.clock()
        added = await svc.ledger.add_request(current, RequestEntry(RequestStatus.PENDING, ask,
                                                                   now),
                                             reason="change_received")
        if added is None:
            return None
        return await self._or_failed(added, self._decide_change(current, added, ask, now))

    async def _decide_change(self, current: Booking, added: Booking, ask: BookingAsk,
                             now: datetime) -> Answer | None:
        svc = self.service
        refusal = self._change_refusal(added, ask, now)
        if refusal is not None:
            return await self._decline(added, refusal)
        changed = replace(added, start=ask.start, end=ask.end, tokens=ask.tokens,
                          access=ask.access, choice=ask.choice,
                          power_required_kw=ask.power_required_kw,
                          authorization_reference=ask.authorization_reference)
        admission = await svc.reserve_promise(changed, amend=True)
        if not admission.ok:
            nearest = await nearest_message(svc, changed, now)
            return await self._decline(added, f"{admission.describe()}; {nearest}")
        accepted = await svc.ledger.transition(
            added, BookingState.RESERVED, reason="changed", decide=RequestStatus.ACCEPTED,
            start=ask.start, end=ask.end, tokens=ask.tokens, access=ask.access,
            choice=ask.choice, power_required_kw=ask.power_required_kw,
            authorization_reference=ask.authorization_reference)
        if accepted is None:
            # Lost to another writer: put the promise back as the stored booking has it.
            stored = await svc.ledger.get(current.key)
            if stored is not None and stored.state is BookingState.RESERVED:
                await svc.reserve_promise(stored, amend=True, sessions=False)
            return None
        if accepted.start != current.start or accepted.end != current.end:
            await svc.capacity_freed(accepted.location_id)
        return Answer(accepted)

    def _change_refusal(self, booking: Booking, ask: BookingAsk, now: datetime) -> str | None:
        foreign = token_refusal(booking.partner, ask)
        if foreign is not None:
            return foreign
        if booking.state is not BookingState.RESERVED:
            return "the booking is still PENDING: cancel it and request again"
        if ask.location_id.upper() != booking.location_id.upper():
            return "location_id: a change may not move the booking to another location"
        if booking.bound:
            return f"the booking is bound to EVSE {booking.evse_uid} already"
        violation = check_change(booking.terms, booking.start, now)
        if violation is None:
            violation = check_booking(booking.terms, ask.start, ask.end, now,
                                      site_zone=self._zone(booking.location_id))
        return _term_message(violation) if violation is not None else None

    async def _decline(self, booking: Booking, message: str) -> Answer | None:
        declined = await self.service.ledger.transition(
            booking, booking.state, reason="change_declined", decide=RequestStatus.DECLINED,
            message=message)
        return Answer(declined, message) if declined is not None else None

    # --- a cancellation ------------------------------------------------------------------

    async def _cancel(self, current: Booking, ask: BookingAsk) -> Answer | None:
        svc = self.service
        now = svc.clock()
        added = await svc.ledger.add_request(current, RequestEntry(RequestStatus.PENDING, ask,
                                                                   now),
                                             reason="cancellation_received")
        if added is None:
            return None
        return await self._or_failed(added, self._decide_cancel(added, ask, now))

    async def _decide_cancel(self, added: Booking, ask: BookingAsk, now: datetime
                             ) -> Answer | None:
        svc = self.service
        if added.state is BookingState.RESERVED:
            violation = check_cancel(added.terms, added.start, now)
            if violation is not None:
                return await self._decline(added, _term_message(violation))
        assert ask.canceled is not None
        canceled = replace(ask.canceled, by=CanceledBy.EMSP)
        ended = await svc.ledger.transition(added, BookingState.CANCELED, reason="canceled",
                                            decide=RequestStatus.ACCEPTED, canceled=canceled)
        if ended is None:
            return None
        await svc.release_promise(ended)
        await svc.capacity_freed(ended.location_id)
        return Answer(ended)


    async def _or_failed(self, added: Booking, decision: Awaitable[Answer | None]
                         ) -> Answer | None:
        """The decision of the request ``added`` appended; an error on the way decides the
        request FAILED and leaves the booking as it is stored (its promise put back as that
        booking has it: an amend may have gone through before the error)."""
        try:
            return await decision
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("booking_request_failed", **added.ids)
        svc = self.service
        stored = await svc.ledger.get(added.key)
        if stored is None or not stored.live:
            return Answer(stored, NOT_PROCESSED) if stored is not None else None
        if stored.state is BookingState.RESERVED:
            try:
                await svc.reserve_promise(stored, amend=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("booking_promise_not_restored", **stored.ids)
        failed = await svc.ledger.transition(stored, stored.state, reason="request_error",
                                             decide=RequestStatus.FAILED,
                                             message=NOT_PROCESSED)
        return Answer(failed, NOT_PROCESSED) if failed is not None else None


class UnknownBooking(LookupError):
    """A cancellation of a request id the partner never used."""
