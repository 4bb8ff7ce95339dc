"""CDRs SENDER interface (CPO side): ``GET {cdrs}``, paginated (``date_from`` / ``date_to``
on ``last_updated``, which for a CDR is when it was made; ``offset`` / ``limit``), each partner
seeing only the CDRs of its own parties' tokens, in the version of the URL."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.transport.envelope import OcpiError
from ocpi_gateway.transport.pagination import page_query, page_response, request_parties

log = structlog.get_logger(__name__)


def add_routes_for(repo: Callable[[], CdrRepository], public_url: str | None
                   ) -> Callable[[web.UrlDispatcher, str, str], None]:
    """The ``add_routes`` of the CDRs OcpiModule (``repo()`` read per request: it exists once
    the store is open)."""
    base_url = public_url.rstrip("/") if public_url else None

    def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
        async def list_cdrs(request: web.Request) -> web.Response:
            try:
                query = page_query(request)
            except OcpiError as exc:
                log.info("cdrs_bad_query", query=request.query_string, error=exc.message)
                return exc.to_response()
            mapping = package(version).cdrs
            found, total = await repo().page_of(request_parties(request), query.timestamps(),
                                                query.offset, query.limit)
            page = [to_json(mapping.cdr(c)) for c in found]
            return page_response(request, query, page, total, base_url)

        router.add_get(prefix, list_cdrs, allow_head=False)
        router.add_get(prefix + "/", list_cdrs, allow_head=False)

    return add_routes
