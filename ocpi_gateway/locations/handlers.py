"""Locations SENDER interface (CPO side): the paginated list and single objects.

The list is the hot path: pages come serialized from the publisher's cache and the envelope is
spliced around them once a second (``_Reply``), so a request for a cached page copies nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import hdrs, web
from multidict import CIMultiDict, istr
from pydantic import BaseModel
from yarl import URL

from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.ocpi import DEFAULT_VERSION
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.transport.envelope import (
    OcpiError,
    ocpi_response,
    ocpi_timestamp,
)
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

DEFAULT_MAX_LIMIT = 100
X_TOTAL_COUNT = istr("X-Total-Count")
X_LIMIT = istr("X-Limit")
PUBLISHER_KEY: web.AppKey[LocationsPublisher] = web.AppKey("locations_publisher")


def parse_ocpi_datetime(value: str, name: str) -> str:
    """An OCPI DateTime as the canonical ``...sssZ`` string used for comparisons."""
    text = value.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    try:
        moment = datetime.fromisoformat(text[:-1] if text.endswith(("Z", "z")) else text)
    except ValueError as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name}: not an RFC 3339 DateTime: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # OCPI: no designator means UTC
    try:
        return ocpi_timestamp(moment)
    except OverflowError as exc:  # year 1 or 9999 moved past the calendar's end by its offset
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name}: out of range: {value!r}") from exc


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name} must be a non-negative integer") from exc
    if value < 0:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{name} must be a non-negative integer")
    return value


REPLIES_KEPT = 1024
"""Distinct list replies kept (each a request target under one Host); then all are dropped."""


@dataclass(frozen=True, slots=True)
class _Reply:
    """A list reply as served during one second: its envelope's timestamp is that second
    (OCPI DateTime: fractional seconds MAY be used), so every request for the page in that
    second is answered with the same bytes, without copying the page into a new body."""

    generation: int
    """The publisher's pages generation it was built in: once it moved on, the page may have
    changed."""
    second: int
    body: bytes
    headers: CIMultiDict[str]


_ReplyKey = tuple[str, str, str, str]
"""(version, scheme, Host header, request target as sent: path and query string)."""


class LocationsSender:
    def __init__(
        self, publisher: LocationsPublisher, *, max_limit: int = DEFAULT_MAX_LIMIT,
        public_url: str | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        self.publisher = publisher
        self._pages = publisher.pages
        self.max_limit = max_limit
        self.public_url = public_url.rstrip("/") if public_url else None
        # (scheme, Host header, path) → the page URL without query, as yarl normalised it:
        # building a yarl URL per page is a measurable part of a request.
        self._bases: dict[tuple[str, str, str], str] = {}
        self._clock = clock
        self._replies: dict[_ReplyKey, _Reply] = {}

    def routes(self, prefix: str = "/ocpi/2.2.1/locations",
               version: str = DEFAULT_VERSION) -> list[web.RouteDef]:
        """The sender's routes under ``prefix``, answering in ``version``'s form."""
        # Partials, not closures: a coroutine less per request on the hot path.
        list_locations = functools.partial(self.list_locations, version=version)
        get_object = functools.partial(self.get_object, version=version)
        return [
            web.get(prefix, list_locations, allow_head=False),
            web.get(prefix + "/", list_locations, allow_head=False),
            web.get(prefix + "/{location_id}", get_object, allow_head=False),
            web.get(prefix + "/{location_id}/{evse_uid}", get_object, allow_head=False),
            web.get(prefix + "/{location_id}/{evse_uid}/{connector_id}", get_object,
                    allow_head=False),
        ]

    async def list_locations(self, request: web.Request,
                             version: str = DEFAULT_VERSION) -> web.Response:
        # The same request target (path and query string as sent) under the same Host and
        # scheme is the same page query with the same Link: while no location changed and
        # the second is the same, the reply is, without parsing the query again.
        second = int(self._clock())
        generation = self._pages.generation
        key = (version, request.scheme, request.host, request.raw_path)
        reply = self._replies.get(key)
        if reply is None or reply.second != second or reply.generation != generation:
            built = self._reply(request, version, generation, second)
            if isinstance(built, web.Response):
                return built
            reply = built
            if len(self._replies) >= REPLIES_KEPT:  # the Host header is the client's
                self._replies.clear()
            self._replies[key] = reply
        return web.Response(body=reply.body, headers=reply.headers)

    def _reply(self, request: web.Request, version: str, generation: int,
               second: int) -> _Reply | web.Response:
        """The reply to this page query, or the error answering a malformed one."""
        query = request.query
        raw_from, raw_to = query.get("date_from"), query.get("date_to")
        try:
            offset = _int_param(request, "offset", 0)
            limit = min(_int_param(request, "limit", self.max_limit), self.max_limit)
            date_from = parse_ocpi_datetime(raw_from, "date_from") if raw_from else None
            date_to = parse_ocpi_datetime(raw_to, "date_to") if raw_to else None
        except OcpiError as exc:
            log.info("locations_bad_query", query=request.query_string, error=exc.message)
            return exc.to_response()
        data, total = self.publisher.page(offset, limit, date_from, date_to, version)
        # A multidict of istr names: each response copies it without case-folding a name.
        headers = CIMultiDict({hdrs.CONTENT_TYPE: "application/json",
                               X_TOTAL_COUNT: str(total), X_LIMIT: str(self.max_limit)})
        if offset + limit < total and limit > 0:
            headers[hdrs.LINK] = f'<{self._next_url(request, offset + limit, limit)}>; rel="next"'
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        body = b"".join((b'{"data":', data, b',"status_code":1000,"timestamp":"',
                         stamp.encode(), b'"}'))
        return _Reply(generation, second, body, headers)

    def _next_url(self, request: web.Request, offset: int, limit: int) -> str:
        query = request.query
        if "date_from" in query or "date_to" in query:
            kept = {k: v for k, v in query.items() if k in ("date_from", "date_to")}
            kept.update(offset=str(offset), limit=str(limit))
            return str(self._base(request).with_query(kept))
        key = (request.scheme, request.host, request.path)
        base = self._bases.get(key)
        if base is None:
            if len(self._bases) > 1000:  # the Host header is the client's: bound what it adds
                self._bases.clear()
            base = self._bases[key] = str(self._base(request))
        return f"{base}?offset={offset}&limit={limit}"

    def _base(self, request: web.Request) -> URL:
        if self.public_url:
            return URL(self.public_url + request.path)
        return request.url.with_query(None)

    async def get_object(self, request: web.Request,
                         version: str = DEFAULT_VERSION) -> web.Response:
        location_id = request.match_info["location_id"]
        evse_uid = request.match_info.get("evse_uid")
        connector_id = request.match_info.get("connector_id")
        found: BaseModel | None
        if evse_uid is None:
            found = self.publisher.location_object(location_id, version)
            what = f"location {location_id}"
        elif connector_id is None:
            found = self.publisher.evse_object(location_id, evse_uid, version)
            what = f"EVSE {evse_uid} of location {location_id}"
        else:
            found = self.publisher.connector_object(location_id, evse_uid, connector_id,
                                                    version)
            what = f"connector {connector_id} of EVSE {evse_uid} of location {location_id}"
        if found is None:
            # status_codes: a GET of a resource that does not exist answers HTTP 404.
            return ocpi_response(None, OcpiStatus.UNKNOWN_LOCATION, f"unknown {what}",
                                 http_status=404)
        return _object_response(found)


def _object_response(found: BaseModel) -> web.Response:
    body = (b'{"data":' + to_json(found) + b',"status_code":1000,"timestamp":"'
            + ocpi_timestamp().encode() + b'"}')
    return web.Response(body=body, content_type="application/json")
