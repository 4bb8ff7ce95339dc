"""No-show records as an operator sees them: every reservation and booking that ended unused,
filtered by kind, site, eMSP, token and when it was recorded, newest first by default, in
keyset pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.query import SiteQuery, add, sort_param
from ocpi_gateway.domain.store import DocumentStore, Where
from ocpi_gateway.reservation_policy.enforcement.records import NO_SHOWS, NoShow, UnusedKind


class NoShowFilter(SiteQuery):
    """The query of ``GET /admin/api/no-shows``; ``from`` and ``to`` bound when it was
    recorded."""

    SORTS: ClassVar[Mapping[str, str]] = {"recorded": "recorded_ts"}
    TIME_FIELD: ClassVar[str | None] = "recorded_ts"

    sort: str = sort_param(SORTS, "-recorded")
    kind: UnusedKind | None = Field(default=None, description="reservation or booking")

    def filters(self) -> Where:
        where: Where = {}
        add(where, "kind", self.kind.value if self.kind is not None else None)
        add(where, "location_id", self.site or None)
        if self.emsp and self.token:
            # The records' own key of one eMSP's token (uids are CiStrings): its index.
            where["token_key"] = f"{self.emsp}/{self.token.upper()}"
        else:
            add(where, "partner_key", self.emsp or None)
            add(where, "token_uid", self.token or None)
        return where


class NoShowView(BaseModel):
    key: str
    kind: UnusedKind
    emsp: str
    token_uid: str
    reference: str
    """The eMSP's reservation id or booking id."""
    location_id: str
    evse_uid: str | None
    reserved_at: datetime
    expired_at: datetime
    recorded_at: datetime


class NoShowsPage(BaseModel):
    items: list[NoShowView]
    next_cursor: str | None


def view(n: NoShow) -> NoShowView:
    return NoShowView(key=n.key, kind=n.kind, emsp=n.partner.key, token_uid=n.token_uid,
                      reference=n.reference, location_id=n.location_id, evse_uid=n.evse_uid,
                      reserved_at=n.reserved_at, expired_at=n.expired_at,
                      recorded_at=n.recorded_at)


async def list_no_shows(store: DocumentStore, query: NoShowFilter) -> NoShowsPage:
    items, next_cursor = await query.page(store, NO_SHOWS, lambda d: view(NoShow.from_doc(d)))
    return NoShowsPage(items=items, next_cursor=next_cursor)
