"""Bookings (OCPI 2.3.0) as an operator sees them: filtered by state, site, eMSP, token and
creation time, newest first, in keyset pages; one with its requests and full history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ocpi_gateway.admin.service.paging import decode_cursor, encode_cursor
from ocpi_gateway.domain.store import DocumentStore, OneOf, Range
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION, Booking
from ocpi_gateway.reservation_policy.bookings.states import (
    LIVE_STATES,
    BookingState,
    CanceledBy,
    CancelReason,
)

ORDER = ["-created_ts"]


class BookingFilter(BaseModel):
    """The query of ``GET /admin/api/bookings``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    state: str | None = Field(default=None, description="one or more states, comma-separated "
                              "(PENDING, RESERVED, REJECTED, FAILED, FULFILLED, CANCELED, "
                              "NO_SHOW); live = PENDING,RESERVED")
    site: str | None = Field(default=None, description="a location id")
    emsp: str | None = Field(default=None, description="the eMSP's party, e.g. DE-ABC")
    token: str | None = Field(default=None, description="the (first) token uid")
    created_from: datetime | None = Field(default=None, alias="from",
                                          description="created at or after")
    created_to: datetime | None = Field(default=None, alias="to", description="created before")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")

    @field_validator("state")
    @classmethod
    def _states(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [part.strip().upper() for part in value.split(",") if part.strip()]
        if names == ["LIVE"]:
            names = sorted(s.value for s in LIVE_STATES)
        for name in names:
            BookingState(name)  # ValueError names the wrong one
        return ",".join(names)

    @field_validator("emsp")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        return value.upper().replace("*", "-") if value else value

    def where(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        states = self.state.split(",") if self.state else []
        if len(states) == 1:
            where["state"] = states[0]
        elif states:
            where["state"] = OneOf(states)
        if self.site:
            where["location_id"] = self.site
        if self.emsp:
            where["partner_key"] = self.emsp
        if self.token:
            where["token_uid"] = self.token
        if self.created_from is not None or self.created_to is not None:
            where["created_ts"] = Range(
                gte=self.created_from.timestamp() if self.created_from else None,
                lt=self.created_to.timestamp() if self.created_to else None)
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
    """Newest first. Raises paging.BadCursor for a cursor this list did not give out."""
    page = await store.find_page(COLLECTION, query.where(), order_by=ORDER, limit=query.limit,
                                 after=decode_cursor(query.cursor, len(ORDER)))
    return BookingPage(items=[view(Booking.from_doc(d)) for d in page.docs],
                       next_cursor=encode_cursor(page.next))


async def get_booking(store: DocumentStore, key: str) -> BookingView | None:
    doc = await store.get(COLLECTION, key)
    return None if doc is None else view(Booking.from_doc(doc), with_history=True)
