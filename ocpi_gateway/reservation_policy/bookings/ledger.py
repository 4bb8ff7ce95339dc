"""The booking records in the durable store, and every transition of their state machine.

Each write is a compare-and-set on ``version`` (``DocumentStore.replace_if``): two instances,
or a cancellation and a binding arriving together, never both win. A transition that won is
stored (with a history entry), logged with the booking's ids, and handed to the listeners as a
``BookingTransitioned`` (the OCPI module pushes it, metrics count it, sessions attach to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from ocpi_gateway.domain.events import BookingListener, BookingTransitioned, utc_now
from ocpi_gateway.domain.store import Cursor, DocumentStore, Range, Where
from ocpi_gateway.reservation_policy.bookings import states
from ocpi_gateway.reservation_policy.bookings.records import (
    COLLECTION,
    Booking,
    RequestEntry,
)
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from ocpi_gateway.reservation_policy.policy import MAX_PROMISE_MINUTES

log = structlog.get_logger(__name__)


class BookingLedger:
    def __init__(self, store: DocumentStore, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock
        self._listeners: list[BookingListener] = []

    def add_listener(self, listener: BookingListener) -> None:
        self._listeners.append(listener)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, key: str) -> Booking | None:
        doc = await self._store.get(COLLECTION, key)
        return Booking.from_doc(doc) if doc is not None else None

    async def of_partner(self, partner_key: str, *, offset: int = 0,
                         limit: int | None = None) -> list[Booking]:
        """A partner's bookings, oldest change first (GET {bookings}'s order)."""
        docs = await self._store.find(COLLECTION, {"partner_key": partner_key},
                                      order_by="updated_ts", offset=offset, limit=limit)
        return [Booking.from_doc(d) for d in docs]

    async def live(self, **where: Any) -> list[Booking]:
        """Live (PENDING or RESERVED) bookings, e.g. ``live(location_id=...)``."""
        docs = await self._store.find(COLLECTION, {"live": True, **where})
        return [Booking.from_doc(d) for d in docs]

    async def due_for_binding(self, now: datetime, limit: int = 100) -> list[Booking]:
        """RESERVED bookings not bound to an EVSE yet whose binding time (start - activation
        lead) has come, earliest first: the first ``limit`` (``walk_due_for_binding`` reads
        them all)."""
        async for page in self.walk_due_for_binding(now, limit):
            return page
        return []

    def walk_due_for_binding(self, now: datetime, page_size: int = 100
                             ) -> AsyncIterator[list[Booking]]:
        """Every booking ``due_for_binding``, page by page (a booking bound meanwhile leaves
        the query; the pages go on after the last one read)."""
        return self._walk({"awaiting_bind": True, "bind_ts": Range(lte=now.timestamp())},
                          "bind_ts", page_size)

    async def due_for_noshow(self, now: datetime, limit: int = 100) -> list[Booking]:
        """RESERVED bookings (bound or not) whose no-show time (start + noshow timeout) has
        passed, earliest first: the ones nobody used are no-shows. The first ``limit``
        (``walk_due_for_noshow`` reads them all)."""
        async for page in self.walk_due_for_noshow(now, limit):
            return page
        return []

    def walk_due_for_noshow(self, now: datetime, page_size: int = 100
                            ) -> AsyncIterator[list[Booking]]:
        return self._walk({"live": True, "state": BookingState.RESERVED.value,
                           "noshow_ts": Range(lte=now.timestamp())}, "noshow_ts", page_size)

    async def _walk(self, where: Where, order_by: str, page_size: int
                    ) -> AsyncIterator[list[Booking]]:
        # Keyset pages: a run that acts on what it reads (binds, ends) neither skips nor
        # re-reads a booking, and a booking left as it was (occupied, tried again next run)
        # never hides the ones after it.
        after: Cursor | None = None
        while True:
            page = await self._store.find_page(COLLECTION, where, order_by=order_by,
                                               limit=page_size, after=after)
            if page.docs:
                yield [Booking.from_doc(d) for d in page.docs]
            if page.next is None:
                return
            after = page.next

    async def near(self, location_id: str, now: datetime) -> list[Booking]:
        """Bookings at a site (any state) whose no-show time has not passed and whose slot
        starts within a day: every booking whose use window may hold ``now`` (the early
        start is at most the activation lead, the lead within a promise's 24 hours)."""
        ts = now.timestamp()
        docs = await self._store.find(COLLECTION, {
            "location_id": location_id, "noshow_ts": Range(gte=ts),
            "start_ts": Range(lte=ts + MAX_PROMISE_MINUTES * 60)}, order_by="start_ts")
        return [Booking.from_doc(d) for d in docs]

    async def open_requests(self, before: datetime, limit: int = 100) -> list[Booking]:
        """RESERVED bookings with a request (a change, a cancellation) still PENDING, last
        written before ``before``, oldest first."""
        docs = await self._store.find(COLLECTION, {
            "open_request": True, "updated_ts": Range(lt=before.timestamp())},
            order_by="updated_ts", limit=limit)
        return [Booking.from_doc(d) for d in docs]

    async def waiting(self, location_id: str) -> list[Booking]:
        """The waiting list of a site, first come first served."""
        docs = await self._store.find(COLLECTION, {"waiting": True, "location_id": location_id},
                                      order_by="created_ts")
        return [Booking.from_doc(d) for d in docs]

    async def waiting_anywhere(self, limit: int = 100) -> list[Booking]:
        docs = await self._store.find(COLLECTION, {"waiting": True}, order_by="created_ts",
                                      limit=limit)
        return [Booking.from_doc(d) for d in docs]

    async def with_token(self, location_id: str, token_uid: str) -> list[Booking]:
        """Live bookings at a site one of whose tokens is ``token_uid`` (case-insensitive)."""
        wanted = token_uid.upper()
        return [b for b in await self.live(location_id=location_id)
                if wanted in {t.uid.upper() for t in b.tokens}]

    async def count(self, **where: Any) -> int:
        return await self._store.count(COLLECTION, where or None)

    # --- writes --------------------------------------------------------------------------

    async def create(self, booking: Booking, previous: Booking | None = None
                     ) -> Booking | None:
        """Store a new booking; ``previous`` is a final one under the same key it replaces
        (an eMSP reusing a request id once its booking is over). None when another writer
        won."""
        now = self._clock()
        version = previous.version + 1 if previous is not None else 0
        fresh = _entry(replace(booking, version=version, created_at=now, updated_at=now),
                       None, "created")
        if previous is None:
            ok = await self._store.insert(COLLECTION, fresh.key, fresh.to_doc())
        else:
            if previous.live:
                raise states.TransitionError("a live booking is changed, not replaced")
            ok = await self._store.replace_if(COLLECTION, fresh.key, fresh.to_doc(),
                                              expected={"version": previous.version})
        if not ok:
            log.info("booking_create_lost", **fresh.ids)
            return None
        log.info("booking_transition", from_=None, to=fresh.state.value, reason="created",
                 **fresh.ids)
        await self._notify(fresh, None, "created", None)
        return fresh

    async def transition(self, current: Booking, state: BookingState, *, reason: str,
                         decide: RequestStatus | None = None, message: str | None = None,
                         **changes: Any) -> Booking | None:
        """Move ``current`` to ``state`` with ``changes``; with ``decide``, the pending
        request gets that status. ``message`` (why) goes on the record and on the request
        decided. None when another writer won."""
        states.check(current.state, state)
        now = self._clock()
        updated = replace(current, state=state, version=current.version + 1, updated_at=now,
                          **changes)
        if decide is not None:
            updated = _decided(updated, decide, now, message)
        if state is not BookingState.PENDING:
            updated = replace(updated, waiting_until=None)
        if state in states.FINAL_STATES:
            # Every request is decided by the end: one still open went with the booking.
            updated = _close_requests(updated, state, now)
        # The record's message says why it ended, or what it waits for; a RESERVED booking
        # has none (a declined change's reason stays on that request).
        updated = replace(updated, message=message if state is not BookingState.RESERVED
                          else None)
        return await self._write(current, _entry(updated, current.state, reason), reason,
                                 decide)

    async def add_request(self, current: Booking, entry: RequestEntry, *, reason: str
                          ) -> Booking | None:
        """Append a request (a change, a cancellation) to a live booking, PENDING until
        decided. None when another writer won."""
        if not current.live:
            raise states.TransitionError(f"a request on a {current.state.value} booking")
        updated = replace(current.with_request(entry), version=current.version + 1,
                          updated_at=self._clock())
        return await self._write(current, _entry(updated, current.state, reason), reason, None)

    async def _write(self, current: Booking, updated: Booking, reason: str,
                     decided: RequestStatus | None) -> Booking | None:
        ok = await self._store.replace_if(COLLECTION, current.key, updated.to_doc(),
                                          expected={"version": current.version})
        if not ok:
            log.info("booking_transition_lost", wanted=updated.state.value, reason=reason,
                     **current.ids)
            return None
        log.info("booking_transition", from_=current.state.value, to=updated.state.value,
                 reason=reason, request_status=decided.value if decided else None,
                 **updated.ids)
        await self._notify(updated, current.state, reason, decided)
        return updated

    async def _notify(self, booking: Booking, previous: BookingState | None, reason: str,
                      decided: RequestStatus | None) -> None:
        event = transitioned(booking, previous, reason, decided)
        for listener in self._listeners:
            try:
                await listener(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("booking_listener_failed", **booking.ids)


def transitioned(booking: Booking, previous: BookingState | None, reason: str,
                 decided: RequestStatus | None = None) -> BookingTransitioned:
    return BookingTransitioned(
        booking_key=booking.key, booking_id=booking.id, request_id=booking.request_id,
        country_code=booking.country_code, party_id=booking.party_id,
        location_id=booking.location_id,
        previous=previous.value if previous is not None else None, state=booking.state.value,
        reason=reason, start=booking.start, end=booking.end,
        authorization_reference=booking.authorization_reference,
        token_uids=tuple(t.uid for t in booking.tokens), evse_uid=booking.evse_uid,
        charge_point_id=booking.charge_point_id,
        ocpp_reservation_id=booking.ocpp_reservation_id,
        request_status=decided.value if decided is not None else None,
        timestamp=booking.updated_at)


def _decided(booking: Booking, status: RequestStatus, now: datetime, message: str | None
             ) -> Booking:
    pending = booking.pending_request
    if pending is None:
        raise states.TransitionError("no pending request to decide")
    states.check_request(pending.status, status)
    index = booking.requests.index(pending)
    entry = replace(pending, status=status, decided=now, message=message)
    return replace(booking, requests=(*booking.requests[:index], entry,
                                      *booking.requests[index + 1:]))


def _close_requests(booking: Booking, state: BookingState, now: datetime) -> Booking:
    status = RequestStatus.FAILED if state is BookingState.FAILED else RequestStatus.DECLINED
    closed = tuple(
        replace(r, status=status, decided=now, message=f"the booking ended {state.value}")
        if r.status is RequestStatus.PENDING else r for r in booking.requests)
    return replace(booking, requests=closed)


def _entry(b: Booking, previous: BookingState | None, reason: str) -> Booking:
    entry: dict[str, Any] = {
        "at": b.updated_at.isoformat(), "from": previous.value if previous else None,
        "to": b.state.value, "reason": reason, "evse_uid": b.evse_uid,
        "charge_point_id": b.charge_point_id, "ocpp_reservation_id": b.ocpp_reservation_id,
        "start": b.start.isoformat(), "end": b.end.isoformat()}
    return replace(b, history=(*b.history, entry))
