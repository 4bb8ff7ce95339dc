"""Reservations as an operator sees them: filtered by state, site, eMSP, token, charger, EVSE
and creation time, in the order asked for (newest first by default), in keyset pages; one
with its full history."""

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
from ocpi_gateway.reservation_policy.records import (
    COLLECTION,
    LIVE_STATES,
    Reservation,
    ReservationState,
)


class ReservationFilter(SiteQuery):
    """The query of ``GET /admin/api/reservations`` (and ``reservations list``); ``from`` and
    ``to`` bound the creation time."""

    SORTS: ClassVar[Mapping[str, str]] = {"created": "created_ts", "expiry": "expiry_ts"}
    TIME_FIELD: ClassVar[str | None] = "created_ts"

    sort: str = sort_param(SORTS, "-created")
    state: str | None = Field(default=None, description="one or more states, comma-separated "
                              "(PENDING, ACTIVE, REROUTED, USED, EXPIRED, CANCELLED, REMOVED, "
                              "FAILED); live = PENDING,ACTIVE,REROUTED")
    charger: str | None = Field(default=None, description="a charge point id")
    evse: str | None = Field(default=None, description="an EVSE uid")

    @field_validator("state")
    @classmethod
    def _states(cls, value: str | None) -> str | None:
        return state_names(value, ReservationState, LIVE_STATES)

    def states(self) -> list[ReservationState]:
        return [ReservationState(s) for s in self.state.split(",")] if self.state else []

    def filters(self) -> Where:
        where = site_filters(self.state, LIVE_STATES, self.site, self.emsp, self.token)
        add(where, "charge_point_id", self.charger or None)
        add(where, "evse_uid", self.evse or None)
        return where


class HistoryEntry(BaseModel):
    at: datetime
    from_state: str | None
    to: str
    reason: str
    evse_uid: str | None = None
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None


class ReservationView(BaseModel):
    key: str
    """``<eMSP party>/<reservation id>``: the path of the reservation in this API."""
    emsp: str
    reservation_id: str
    state: ReservationState
    live: bool
    location_id: str
    evse_uid: str | None
    requested_evse_uid: str | None
    charge_point_id: str | None
    evse_id: int | None
    connector_id: int | None
    ocpp_reservation_id: int | None
    whole_charger: bool
    token_uid: str
    token_type: str
    expiry: datetime
    created_at: datetime
    updated_at: datetime
    booking_key: str | None = None
    """The booking (OCPI 2.3.0) this reservation binds to its EVSE, in the bookings' API
    (``<eMSP party>/<request id>``): its end is the booking's no-show time, so it is the
    booking that is changed, not the reservation."""
    history: list[HistoryEntry] | None = None
    """Every transition, oldest first (one reservation only)."""


class ReservationPage(BaseModel):
    items: list[ReservationView]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last one."""


def view(r: Reservation, *, with_history: bool = False) -> ReservationView:
    history = None
    if with_history:
        history = [HistoryEntry(at=e["at"], from_state=e.get("from"), to=e["to"],
                                reason=e.get("reason", ""), evse_uid=e.get("evse_uid"),
                                charge_point_id=e.get("charge_point_id"),
                                ocpp_reservation_id=e.get("ocpp_reservation_id"))
                   for e in r.history]
    return ReservationView(
        key=r.key, emsp=r.partner.key, reservation_id=r.reservation_id, state=r.state,
        live=r.live, location_id=r.location_id, evse_uid=r.evse_uid,
        requested_evse_uid=r.requested_evse_uid, charge_point_id=r.charge_point_id,
        evse_id=r.evse_id, connector_id=r.connector_id,
        ocpp_reservation_id=r.ocpp_reservation_id, whole_charger=r.whole_charger,
        token_uid=r.token_uid, token_type=r.token_type, expiry=r.expiry,
        created_at=r.created_at, updated_at=r.updated_at, booking_key=r.booking_key,
        history=history)


def reservation_key(emsp: str, reservation_id: str) -> str:
    """The record's key from the API's path parts (ids are case-insensitive)."""
    return f"{emsp.upper().replace('*', '-')}/{reservation_id.upper()}"


async def list_reservations(store: DocumentStore, query: ReservationFilter
                            ) -> ReservationPage:
    """In the query's order (newest first by default). Raises paging.BadCursor for a cursor
    this list did not give out."""
    items, next_cursor = await query.page(store, COLLECTION,
                                          lambda d: view(Reservation.from_doc(d)))
    return ReservationPage(items=items, next_cursor=next_cursor)


async def get_reservation(store: DocumentStore, key: str) -> ReservationView | None:
    doc = await store.get(COLLECTION, key)
    return None if doc is None else view(Reservation.from_doc(doc), with_history=True)


async def backfill_created_ts(store: DocumentStore) -> int:
    """Give records stored before ``created_ts`` existed the field (the list's order and
    range), compare-and-set on their version; how many."""
    done = 0
    for doc in await store.find(COLLECTION, {"created_ts": None}):
        r = Reservation.from_doc(doc)
        done += await store.replace_if(COLLECTION, r.key, {**doc, **r.to_doc()},
                                       expected={"version": r.version})
    return done
