"""Tariffs SENDER interface (CPO side): ``GET {tariffs}``, paginated like Locations
(``date_from`` / ``date_to`` on ``last_updated``, ``offset`` / ``limit``, X-Total-Count,
X-Limit, Link), each partner seeing the tariffs meant for everyone and those the operator
lists one of its parties for, in the version of the URL."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web
from yarl import URL

from ocpi_gateway.locations.handlers import parse_ocpi_datetime
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.transport.context import current_partner, current_routing
from ocpi_gateway.transport.envelope import OcpiError, now_timestamp, ocpi_timestamp
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

MAX_LIMIT = 100


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name} must be a non-negative integer")
    return int(raw)


def _parties(request: web.Request) -> list[tuple[str, str]]:
    """The parties the request is for: the one its OCPI-from-* names (a hub forwarding for
    one eMSP), else every role of the partner."""
    sender = current_routing(request).sender
    if sender is not None:
        return [(sender.country_code, sender.party_id)]
    return [(r.country_code, r.party_id) for r in current_partner(request).roles]


def add_routes_for(catalog: Callable[[], TariffsCatalog], public_url: str | None
                   ) -> Callable[[web.UrlDispatcher, str, str], None]:
    """The ``add_routes`` of the Tariffs OcpiModule, serving ``catalog()`` (read per request:
    a reload replaces it)."""
    base_url = public_url.rstrip("/") if public_url else None

    def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
        async def list_tariffs(request: web.Request) -> web.Response:
            return _list(request, catalog(), version, base_url)

        router.add_get(prefix, list_tariffs, allow_head=False)
        router.add_get(prefix + "/", list_tariffs, allow_head=False)

    return add_routes


def _list(request: web.Request, catalog: TariffsCatalog, version: str,
          base_url: str | None) -> web.Response:
    try:
        offset = _int_param(request, "offset", 0)
        limit = min(_int_param(request, "limit", MAX_LIMIT), MAX_LIMIT)
        raw_from, raw_to = request.query.get("date_from"), request.query.get("date_to")
        date_from = parse_ocpi_datetime(raw_from, "date_from") if raw_from else None
        date_to = parse_ocpi_datetime(raw_to, "date_to") if raw_to else None
    except OcpiError as exc:
        log.info("tariffs_bad_query", query=request.query_string, error=exc.message)
        return exc.to_response()
    mapping = package(version).tariffs
    matching = []
    for tariff in catalog.visible_to(_parties(request)):
        assert tariff.last_updated is not None  # the catalog sets it
        stamp = ocpi_timestamp(tariff.last_updated)
        if (date_from is None or stamp >= date_from) and (date_to is None or stamp < date_to):
            shown = mapping.tariff(tariff)
            if shown is not None:
                matching.append(shown)
    page = matching[offset:offset + limit]
    headers = {"X-Total-Count": str(len(matching)), "X-Limit": str(MAX_LIMIT)}
    if offset + limit < len(matching) and limit > 0:
        url = URL(base_url + request.path) if base_url else request.url.with_query(None)
        kept = {k: v for k, v in request.query.items() if k in ("date_from", "date_to")}
        kept.update(offset=str(offset + limit), limit=str(limit))
        headers["Link"] = f'<{url.with_query(kept)}>; rel="next"'
    data = b"[" + b",".join(to_json(t) for t in page) + b"]"
    body = b"".join((b'{"data":', data, b',"status_code":1000,"timestamp":"',
                     now_timestamp().encode(), b'"}'))
    return web.Response(body=body, content_type="application/json", headers=headers)
