"""Paginated GETs of SENDER interfaces (transport_and_format "Pagination"): ``offset`` /
``limit`` / ``date_from`` / ``date_to`` read, the page served with X-Total-Count, X-Limit and
a Link to the next page (its query keeps the dates), and the parties a request is for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from yarl import URL

from ocpi_gateway.domain.store import Range
from ocpi_gateway.locations.handlers import parse_ocpi_datetime
from ocpi_gateway.transport.context import current_partner, current_routing
from ocpi_gateway.transport.envelope import OcpiError, now_timestamp
from ocpi_gateway.transport.status_codes import OcpiStatus

MAX_LIMIT = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageQuery:
    offset: int
    limit: int
    date_from: str | None
    """Canonical OCPI timestamps (``...sssZ``): compare them with ``ocpi_timestamp`` strings."""
    date_to: str | None

    def in_range(self, stamp: str) -> bool:
        """``last_updated`` from ``date_from`` (included) to ``date_to`` (excluded)."""
        return ((self.date_from is None or stamp >= self.date_from)
                and (self.date_to is None or stamp < self.date_to))

    def page(self, matching: Sequence[T]) -> Sequence[T]:
        return matching[self.offset:self.offset + self.limit]

    def timestamps(self) -> Range | None:
        """The dates as a store Range over epoch seconds (None: no date given)."""
        if self.date_from is None and self.date_to is None:
            return None
        return Range(gte=_epoch(self.date_from) if self.date_from else None,
                     lt=_epoch(self.date_to) if self.date_to else None)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC).timestamp()


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name} must be a non-negative integer")
    return int(raw)


def page_query(request: web.Request, max_limit: int = MAX_LIMIT) -> PageQuery:
    """The request's paging parameters; OcpiError 2001 naming a bad one."""
    raw_from, raw_to = request.query.get("date_from"), request.query.get("date_to")
    return PageQuery(
        offset=_int_param(request, "offset", 0),
        limit=min(_int_param(request, "limit", max_limit), max_limit),
        date_from=parse_ocpi_datetime(raw_from, "date_from") if raw_from else None,
        date_to=parse_ocpi_datetime(raw_to, "date_to") if raw_to else None)


def request_parties(request: web.Request) -> list[tuple[str, str]]:
    """The parties the request is for: the one its OCPI-from-* names (a hub forwarding for
    one eMSP), else every role of the partner."""
    sender = current_routing(request).sender
    if sender is not None:
        return [(sender.country_code, sender.party_id)]
    return [(r.country_code, r.party_id) for r in current_partner(request).roles]


def page_response(request: web.Request, query: PageQuery, page: Sequence[bytes], total: int,
                  base_url: str | None, max_limit: int = MAX_LIMIT, *,
                  filters: Sequence[str] = ("date_from", "date_to")) -> web.Response:
    """The answer with ``page`` (``query.page`` of the ``total`` matching objects, each
    serialized); the next page's Link keeps the request's ``filters``."""
    headers = {"X-Total-Count": str(total), "X-Limit": str(max_limit)}
    if query.offset + query.limit < total and query.limit > 0:
        url = URL(base_url + request.path) if base_url else request.url.with_query(None)
        kept = {k: v for k, v in request.query.items() if k in filters}
        kept.update(offset=str(query.offset + query.limit), limit=str(query.limit))
        headers["Link"] = f'<{url.with_query(kept)}>; rel="next"'
    data = b"[" + b",".join(page) + b"]"
    body = b"".join((b'{"data":', data, b',"status_code":1000,"timestamp":"',
                     now_timestamp().encode(), b'"}'))
    return web.Response(body=body, content_type="application/json", headers=headers)
