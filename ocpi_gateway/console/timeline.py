"""``GET /admin/api/timeline``: a site's reservations and bookings over a day or a week, lane
by EVSE, for the console's timeline (an operation of the admin API, so it is authenticated
and documented like the others)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.domain.store import DocumentStore, Range
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation

TAG = "console"
MAX_SPAN = timedelta(days=8)
BOOKING_LOOKBACK = timedelta(days=2)


class TimelineQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    site: str = Field(description="a location id")
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")

    @model_validator(mode="after")
    def _window(self) -> TimelineQuery:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T00:00:00Z)")
        if not self.start < self.end <= self.start + MAX_SPAN:
            raise ValueError("'to' must be after 'from', at most 8 days later")
        return self


class TimelineItem(BaseModel):
    kind: str
    """``reservation`` or ``booking``."""
    key: str
    emsp: str
    evse_uid: str | None
    """None: a booking not bound to an EVSE yet."""
    start: datetime
    end: datetime
    state: str
    live: bool


class Timeline(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)  # "from" and "to", as asked

    site: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    evses: list[str]
    items: list[TimelineItem]


def _reservation_item(r: Reservation) -> TimelineItem:
    end = r.ends_at if r.live else max(r.updated_at, r.created_at)
    return TimelineItem(kind="reservation", key=r.key, emsp=r.partner.key,
                        evse_uid=r.evse_uid, start=r.created_at, end=end,
                        state=r.state.value, live=r.live)


def _booking_item(b: Booking) -> TimelineItem:
    return TimelineItem(kind="booking", key=b.key, emsp=b.partner.key, evse_uid=b.evse_uid,
                        start=b.start, end=b.end, state=b.state.value, live=b.live)


async def timeline(store: DocumentStore, query: TimelineQuery,
                   evses: list[str]) -> Timeline:
    start, end = query.start.timestamp(), query.end.timestamp()
    reservations = [Reservation.from_doc(d) for d in await store.find(RESERVATIONS, {
        "location_id": query.site, "created_ts": Range(lt=end),
        "expiry_ts": Range(gte=start)}, order_by="created_ts")]
    # A booking's binding is shown as the booking it binds, not twice.
    items = [_reservation_item(r) for r in reservations if r.booking_key is None]
    bookings = [Booking.from_doc(d) for d in await store.find(BOOKINGS, {
        "location_id": query.site,
        "start_ts": Range(gte=start - BOOKING_LOOKBACK.total_seconds(), lt=end)},
        order_by="start_ts")]
    items += [_booking_item(b) for b in bookings if b.end.timestamp() > start]
    items = [i for i in items if i.end.timestamp() > start]
    items.sort(key=lambda i: (i.start, i.key))
    return Timeline(site=query.site, start=query.start, end=query.end, evses=evses,
                    items=items)


async def site_timeline(call: Call) -> Timeline:
    query: TimelineQuery = call.query
    locations = call.app.get(LOCATIONS)
    location = locations.catalog.get(query.site) if locations is not None else None
    if location is None:
        raise not_found(f"site {query.site}")
    return await timeline(call.app[keys.STORE], query, [e.uid for e in location.evses])


OPERATIONS = [
    Operation("GET", "/admin/api/timeline", site_timeline, "a site's reservations and "
              "bookings over a day or a week, by EVSE (the console's timeline)", TAG,
              query=TimelineQuery, response=Timeline, errors=(400, 404)),
]
