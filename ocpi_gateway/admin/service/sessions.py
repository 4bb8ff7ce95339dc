"""Charging sessions as an operator sees them: filtered by status, site, eMSP, token, charger
and the time of their latest change, latest first by default, in keyset pages; one with its
meter readings and the reservation or booking it began with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from ocpi_gateway.admin.service.query import (
    SiteQuery,
    add,
    one_or_more,
    sort_param,
    state_names,
)
from ocpi_gateway.domain.store import DocumentStore, Where
from ocpi_gateway.sessions.models import (
    FINAL_STATUSES,
    HoldEnd,
    HoldKind,
    Session,
    SessionStatus,
)
from ocpi_gateway.sessions.repository import COLLECTION

OPEN = frozenset(SessionStatus) - FINAL_STATUSES


def party_of_records(emsp: str) -> str:
    """Sessions and CDRs key their eMSP ``DE/ABC``; the API names it ``DE-ABC``."""
    return emsp.replace("-", "/", 1)


class SessionFilter(SiteQuery):
    """The query of ``GET /admin/api/sessions``; ``from`` and ``to`` bound the time of the
    session's latest change."""

    SORTS: ClassVar[Mapping[str, str]] = {"updated": "last_updated_ts"}
    TIME_FIELD: ClassVar[str | None] = "last_updated_ts"

    sort: str = sort_param(SORTS, "-updated")
    state: str | None = Field(default=None, description="one or more statuses, comma-"
                              "separated (PENDING, RESERVATION, ACTIVE, COMPLETED, INVALID); "
                              "live = not COMPLETED or INVALID")
    charger: str | None = Field(default=None, description="a charge point id")

    @field_validator("state")
    @classmethod
    def _states(cls, value: str | None) -> str | None:
        return state_names(value, SessionStatus, OPEN)

    def filters(self) -> Where:
        where: Where = {}
        add(where, "status", one_or_more(self.state.split(",") if self.state else []))
        add(where, "location_id", self.site or None)
        add(where, "emsp_key", party_of_records(self.emsp) if self.emsp else None)
        add(where, "token.uid", self.token or None)
        add(where, "charge_point_id", self.charger or None)
        return where


class HoldView(BaseModel):
    key: str
    """The reservation's (or booking's) key: its path under /admin/api/reservations or
    /admin/api/bookings."""
    kind: HoldKind
    ended: HoldEnd | None


class ReadingView(BaseModel):
    at: datetime
    wh: Decimal
    charging: bool


class SessionView(BaseModel):
    id: str
    status: SessionStatus
    emsp: str | None
    """The token's eMSP, ``DE-ABC``; null for a token no eMSP told us about."""
    token_uid: str | None
    location_id: str
    evse_uid: str
    connector_id: str
    charge_point_id: str | None
    transaction_id: str | None
    start: datetime
    end: datetime | None
    energy_wh: Decimal | None
    """Since the first reading; null before two readings."""
    currency: str
    hold: HoldView | None
    billed: bool
    last_updated: datetime
    readings: list[ReadingView] | None = None
    """Every meter reading, oldest first (one session only)."""


class SessionsPage(BaseModel):
    items: list[SessionView]
    next_cursor: str | None


def view(s: Session, *, with_readings: bool = False) -> SessionView:
    energy = s.readings[-1].wh - s.readings[0].wh if len(s.readings) > 1 else None
    return SessionView(
        id=s.id, status=s.status,
        emsp=f"{s.token.country_code}-{s.token.party_id}".upper() if s.token else None,
        token_uid=s.token.uid if s.token else None, location_id=s.location_id,
        evse_uid=s.evse_uid, connector_id=s.connector_id, charge_point_id=s.charge_point_id,
        transaction_id=s.transaction_id, start=s.start_date_time, end=s.end_date_time,
        energy_wh=energy, currency=s.currency,
        hold=HoldView(key=s.hold.key, kind=s.hold.kind, ended=s.hold.ended) if s.hold else None,
        billed=s.billed, last_updated=s.last_updated,
        readings=[ReadingView(at=r.at, wh=r.wh, charging=r.charging) for r in s.readings]
        if with_readings else None)


async def list_sessions(store: DocumentStore, query: SessionFilter) -> SessionsPage:
    items, next_cursor = await query.page(store, COLLECTION, lambda d: view(Session.from_doc(d)))
    return SessionsPage(items=items, next_cursor=next_cursor)


async def get_session(store: DocumentStore, session_id: str) -> SessionView | None:
    doc = await store.get(COLLECTION, session_id)
    return None if doc is None else view(Session.from_doc(doc), with_readings=True)
