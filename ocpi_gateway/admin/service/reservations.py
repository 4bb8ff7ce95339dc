"""Reservations as an operator sees them: filtered by state, site, eMSP, token and creation
time, newest first, in keyset pages; one with its full history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ocpi_gateway.admin.service.paging import decode_cursor, encode_cursor
from ocpi_gateway.domain.store import DocumentStore, OneOf, Range
from ocpi_gateway.reservation_policy.records import (
    COLLECTION,
    Reservation,
    ReservationState,
)

ORDER = ["-created_ts"]


class ReservationFilter(BaseModel):
    """The query of ``GET /admin/api/reservations`` (and ``reservations list``)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    state: str | None = Field(default=None, description="one or more states, comma-separated "
                              "(PENDING, ACTIVE, REROUTED, USED, EXPIRED, CANCELLED, REMOVED, "
                              "FAILED); live = PENDING,ACTIVE,REROUTED")
    site: str | None = Field(default=None, description="a location id")
    emsp: str | None = Field(default=None, description="the eMSP's party, e.g. DE-ABC")
    token: str | None = Field(default=None, description="the token uid")
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
            names = ["PENDING", "ACTIVE", "REROUTED"]
        for name in names:
            ReservationState(name)  # ValueError names the wrong one
        return ",".join(names)

    @field_validator("emsp")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        return value.upper().replace("*", "-") if value else value

    def states(self) -> list[ReservationState]:
        return [ReservationState(s) for s in self.state.split(",")] if self.state else []

    def where(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        states = self.states()
        if len(states) == 1:
            where["state"] = states[0].value
        elif states:
            where["state"] = OneOf([s.value for s in states])
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
        created_at=r.created_at, updated_at=r.updated_at, history=history)


def reservation_key(emsp: str, reservation_id: str) -> str:
    """The record's key from the API's path parts (ids are case-insensitive)."""
    return f"{emsp.upper().replace('*', '-')}/{reservation_id.upper()}"


async def list_reservations(store: DocumentStore, query: ReservationFilter
                            ) -> ReservationPage:
    """Newest first. Raises paging.BadCursor for a cursor this list did not give out."""
    page = await store.find_page(COLLECTION, query.where(), order_by=ORDER,
                                 limit=query.limit,
                                 after=decode_cursor(query.cursor, len(ORDER)))
    return ReservationPage(items=[view(Reservation.from_doc(d)) for d in page.docs],
                           next_cursor=encode_cursor(page.next))


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
