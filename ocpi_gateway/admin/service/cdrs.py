"""CDRs as an operator sees them: filtered by kind, site, eMSP, token, charger, credit and
the time they were made, newest first by default, in keyset pages; one with its periods."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.query import SiteQuery, add, sort_param
from ocpi_gateway.admin.service.sessions import party_of_records
from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.cdrs.repository import COLLECTION
from ocpi_gateway.domain.store import DocumentStore, Where
from ocpi_gateway.money import Price
from ocpi_gateway.sessions.models import HoldEnd, HoldKind
from ocpi_gateway.tariffs.pricing import CdrDimensionType


class CdrFilter(SiteQuery):
    """The query of ``GET /admin/api/cdrs``; ``from`` and ``to`` bound when it was made (a
    CDR is never changed: a correction is a Credit CDR)."""

    SORTS: ClassVar[Mapping[str, str]] = {"created": "last_updated_ts"}
    TIME_FIELD: ClassVar[str | None] = "last_updated_ts"

    sort: str = sort_param(SORTS, "-created")
    kind: CdrKind | None = Field(default=None, description="SESSION, or RESERVATION (a "
                                 "reservation or booking that ended unused)")
    charger: str | None = Field(default=None, description="a charge point id")
    credit: bool | None = Field(default=None, description="only Credit CDRs, or none")

    def filters(self) -> Where:
        where: Where = {}
        add(where, "kind", self.kind.value if self.kind is not None else None)
        add(where, "location.id", self.site or None)
        add(where, "emsp_key", party_of_records(self.emsp) if self.emsp else None)
        add(where, "token.uid", self.token or None)
        add(where, "charge_point_id", self.charger or None)
        add(where, "credit", self.credit)
        return where


class DimensionView(BaseModel):
    type: CdrDimensionType
    volume: Decimal


class PeriodView(BaseModel):
    start: datetime
    tariff_id: str
    """Empty: no tariff applies."""
    cost: Decimal
    """Before taxes."""
    dimensions: list[DimensionView]


class CdrView(BaseModel):
    id: str
    kind: CdrKind
    emsp: str
    token_uid: str
    location_id: str
    evse_uid: str
    start: datetime
    end: datetime
    currency: str
    total_cost: Price
    total_energy: Decimal
    """kWh."""
    total_time: Decimal
    """Hours."""
    total_reservation_cost: Price | None
    credit: bool
    credit_reference_id: str | None
    session_id: str | None
    booking_id: str | None
    hold_key: str | None
    hold_kind: HoldKind | None
    hold_end: HoldEnd | None
    charge_point_id: str | None
    created: datetime
    periods: list[PeriodView] | None = None
    """The charging periods as priced (one CDR only)."""


class CdrsPage(BaseModel):
    items: list[CdrView]
    next_cursor: str | None


def view(c: Cdr, *, with_periods: bool = False) -> CdrView:
    return CdrView(
        id=c.id, kind=c.kind, emsp=f"{c.token.country_code}-{c.token.party_id}".upper(),
        token_uid=c.token.uid, location_id=c.location.id, evse_uid=c.location.evse_uid,
        start=c.start_date_time, end=c.end_date_time, currency=c.currency,
        total_cost=c.total_cost, total_energy=c.total_energy, total_time=c.total_time,
        total_reservation_cost=c.total_reservation_cost, credit=c.credit,
        credit_reference_id=c.credit_reference_id, session_id=c.session_id,
        booking_id=c.booking_id, hold_key=c.hold_key, hold_kind=c.hold_kind,
        hold_end=c.hold_end, charge_point_id=c.charge_point_id, created=c.last_updated,
        periods=[PeriodView(start=p.start, tariff_id=p.tariff_id, cost=p.cost,
                            dimensions=[DimensionView(type=d.type, volume=d.volume)
                                        for d in p.dimensions])
                 for p in c.periods] if with_periods else None)


async def list_cdrs(store: DocumentStore, query: CdrFilter) -> CdrsPage:
    items, next_cursor = await query.page(store, COLLECTION, lambda d: view(Cdr.from_doc(d)))
    return CdrsPage(items=items, next_cursor=next_cursor)


async def get_cdr(store: DocumentStore, cdr_id: str) -> CdrView | None:
    doc = await store.get(COLLECTION, cdr_id)
    return None if doc is None else view(Cdr.from_doc(doc), with_periods=True)
