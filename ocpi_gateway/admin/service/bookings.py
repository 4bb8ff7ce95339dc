"""Bookings (OCPI 2.3.0) as an operator sees them: filtered by state, site, eMSP, token, EVSE
and creation time, in the order asked for (newest first by default), in keyset pages; one
with its requests and full history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from ocpi_gateway.admin.service.query import (
    SiteQuery,
    add,
    site_filters,
    sort_param,
    state_names,
)
from ocpi_gateway.domain.store import DocumentStore, Where
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION, Booking
from ocpi_gateway.reservation_policy.bookings.states import (
    LIVE_STATES,
    BookingState,
    CanceledBy,
    CancelReason,
)


class BookingFilter(SiteQuery):
    """The query of ``GET /admin/api/bookings``; ``from`` and ``to`` bound the creation
    time."""

    SORTS: ClassVar[Mapping[str, str]] = {"created": "created_ts", "start": "start_ts",
                                          "updated": "updated_ts"}
    TIME_FIELD: ClassVar[str | None] = "created_ts"

    sort: str = sort_param(SORTS, "-created")
    state: str | None = Field(default=None, description="one or more states, comma-separated "
                              "(PENDING, RESERVED, REJECTED, FAILED, FULFILLED, CANCELED, "
                              "NO_SHOW); live = PENDING,RESERVED")
    evse: str | None = Field(default=None, description="the EVSE uid it is bound to")

    @field_validator("state")
    @classmethod
    def _states(cls, value: str | None) -> str | None:
        return state_names(value, BookingState, frozenset(LIVE_STATES))

    def filters(self) -> Where:
        where = site_filters(self.state, frozenset(LIVE_STATES), self.site, self.emsp, self.token)
        add(where, "evse_uid", self.evse or None)
        return where


class BookingCancellation(BaseModel):
    reason: CancelReason
    by: CanceledBy


class BookingRequestView(BaseModel):
    status: str
    received: datetime
    decided: datetime | None
    message: str | None
    cancellation: bool


class BookingHistoryEntry(BaseModel):
    at: datetime
    from_state: str | None
    to: str
    reason: str


class BookingView(BaseModel):
    key: str
    """``<eMSP party>/<request id>``: the path of the booking in this API."""
    id: str
    """Booking.id, the CPO's id."""
    emsp: str
    request_id: str
    state: BookingState
    live: bool
    location_id: str
    start: datetime
    end: datetime
    tokens: list[str]
    """Token uids."""
    evse_uid: str | None
    charge_point_id: str | None
    ocpp_reservation_id: int | None
    canceled: BookingCancellation | None
    message: str | None
    waiting_until: datetime | None
    created_at: datetime
    updated_at: datetime
    requests: list[BookingRequestView] | None = None
    """Every request made on it (one booking only)."""
    history: list[BookingHistoryEntry] | None = None
    """Every transition, oldest first (one booking only)."""


class BookingPage(BaseModel):
    items: list[BookingView]
    next_cursor: str | None


def view(b: Booking, *, with_history: bool = False) -> BookingView:
    requests = history = None
    if with_history:
        requests = [BookingRequestView(status=r.status.value, received=r.received,
                                       decided=r.decided, message=r.message,
                                       cancellation=r.ask.is_cancellation)
                    for r in b.requests]
        history = [BookingHistoryEntry(at=e["at"], from_state=e.get("from"), to=e["to"],
                                       reason=e.get("reason", ""))
                   for e in b.history]
    return BookingView(
        key=b.key, id=b.id, emsp=b.partner.key, request_id=b.request_id, state=b.state,
        live=b.live, location_id=b.location_id, start=b.start, end=b.end,
        tokens=[t.uid for t in b.tokens], evse_uid=b.evse_uid,
        charge_point_id=b.charge_point_id, ocpp_reservation_id=b.ocpp_reservation_id,
        canceled=BookingCancellation(reason=b.canceled.reason, by=b.canceled.by)
        if b.canceled is not None else None,
        message=b.message, waiting_until=b.waiting_until, created_at=b.created_at,
        updated_at=b.updated_at, requests=requests, history=history)


async def list_bookings(store: DocumentStore, query: BookingFilter) -> BookingPage:
    """In the query's order (newest first by default). Raises paging.BadCursor for a cursor
    this list did not give out."""
    items, next_cursor = await query.page(store, COLLECTION, lambda d: view(Booking.from_doc(d)))
    return BookingPage(items=items, next_cursor=next_cursor)


async def get_booking(store: DocumentStore, key: str) -> BookingView | None:
    doc = await store.get(COLLECTION, key)
    return None if doc is None else view(Booking.from_doc(doc), with_history=True)
