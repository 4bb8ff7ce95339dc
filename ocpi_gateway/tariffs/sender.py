"""Tariffs SENDER interface (CPO side): ``GET {tariffs}``, paginated like Locations
(``date_from`` / ``date_to`` on ``last_updated``, ``offset`` / ``limit``, X-Total-Count,
X-Limit, Link), each partner seeing the tariffs meant for everyone and those the operator
lists one of its parties for, in the version of the URL."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.transport.envelope import OcpiError, ocpi_timestamp
from ocpi_gateway.transport.pagination import page_query, page_response, request_parties

log = structlog.get_logger(__name__)


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
        query = page_query(request)
    except OcpiError as exc:
        log.info("tariffs_bad_query", query=request.query_string, error=exc.message)
        return exc.to_response()
    mapping = package(version).tariffs
    matching = []
    for tariff in catalog.visible_to(request_parties(request)):
        assert tariff.last_updated is not None  # the catalog sets it
        if query.in_range(ocpi_timestamp(tariff.last_updated)):
            shown = mapping.tariff(tariff)
            if shown is not None:
                matching.append(shown)
    page = [to_json(t) for t in query.page(matching)]
    return page_response(request, query, page, len(matching), base_url)
