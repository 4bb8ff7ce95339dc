"""Bookings SENDER interface (CPO side, OCPI 2.3.0 only):

- ``GET {bookings}/booking_locations`` (paginated; ``date_from``/``date_to`` on
  ``last_updated``; ``timeslot_from``/``timeslot_to``: only sites with a free timeslot in
  that window, their calendars cut to it), ``GET .../booking_locations/{id}`` and
  ``.../{id}/{calendar_id}``;
- ``GET {bookings}`` (paginated): the partner's own bookings only;
- ``POST {bookings}`` with a BookingRequest: answered with the Booking as it stands
  (RESERVED or REJECTED at once, PENDING while it waits); the message of the answer names the
  term broken, or the instant full and the nearest free timeslots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import orjson
import structlog
from aiohttp import web

from ocpi_gateway.bookings.calendars import BookingSite
from ocpi_gateway.bookings.context import BOOKINGS, Bookings
from ocpi_gateway.locations.handlers import parse_ocpi_datetime
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.ocpi.v2_3_0 import bookings as v230
from ocpi_gateway.reservation_policy.bookings.intake import UnknownBooking
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.transport.body import parse_body
from ocpi_gateway.transport.datetimes import as_utc
from ocpi_gateway.transport.envelope import OcpiError, now_timestamp
from ocpi_gateway.transport.pagination import page_query, page_response, request_parties
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    return _moment(parse_ocpi_datetime(raw, name)) if raw else None


def _moment(stamp: str | None) -> datetime | None:
    """A canonical OCPI timestamp (``...sssZ``) as an aware datetime."""
    return as_utc(datetime.fromisoformat(stamp.replace("Z", "+00:00"))) if stamp else None


def parties(request: web.Request) -> list[Partner]:
    """The eMSP parties the request is for (``request_parties``), as the policy names them."""
    return [Partner(cc.upper(), pid.upper()) for cc, pid in request_parties(request)]


def _data(data: bytes, *, message: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    status = b""
    if message is not None:
        status = b',"status_message":' + orjson.dumps(message)
    body = b"".join((b'{"data":', data, b',"status_code":1000', status, b',"timestamp":"',
                     now_timestamp().encode(), b'"}'))
    return web.Response(body=body, content_type="application/json", headers=headers)


def _in_window(stamp: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or stamp >= start) and (end is None or stamp < end)


def booking_json(bookings: Bookings, b: Booking) -> bytes:
    return to_json(v230.booking_of(b, bookings.party_of(b.location_id),
                                   access_methods=bookings.access_methods,
                                   terms_url=bookings.terms_url))


def add_routes_for(public_url: str | None) -> Callable[[web.UrlDispatcher, str, str], None]:
    base_url = public_url.rstrip("/") if public_url else None

    def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
        async def list_locations(request: web.Request) -> web.Response:
            return await _list_locations(request, request.app[BOOKINGS], base_url)

        async def one_location(request: web.Request) -> web.Response:
            return await _one_location(request, request.app[BOOKINGS])

        async def list_bookings(request: web.Request) -> web.Response:
            return await _list_bookings(request, request.app[BOOKINGS], base_url)

        async def post_booking(request: web.Request) -> web.Response:
            return await _post(request, request.app[BOOKINGS])

        for suffix in ("", "/"):
            router.add_get(prefix + suffix, list_bookings, allow_head=False)
            router.add_post(prefix + suffix, post_booking)
            router.add_get(prefix + "/booking_locations" + suffix, list_locations,
                           allow_head=False)
        router.add_get(prefix + "/booking_locations/{location_id}", one_location,
                       allow_head=False)
        router.add_get(prefix + "/booking_locations/{location_id}/{calendar_id}",
                       one_location, allow_head=False)

    return add_routes


async def _list_locations(request: web.Request, bookings: Bookings,
                          base_url: str | None) -> web.Response:
    query = page_query(request)
    date_from, date_to = _moment(query.date_from), _moment(query.date_to)
    slot_from = _time_param(request, "timeslot_from")
    slot_to = _time_param(request, "timeslot_to")
    partner = parties(request)[0]
    kept = ("date_from", "date_to", "timeslot_from", "timeslot_to")
    listed = [location.id for location in bookings.catalog().locations()
              if _in_window(bookings.changes.last(location.id), date_from, date_to)
              and bookings.bookable(location.id, partner)]
    if slot_from is None and slot_to is None:
        # Every bookable location is listed: only the page's calendars are computed (a
        # catalogue of 10,000 sites computed them all for every page).
        sites = [await bookings.site(location_id, partner)
                 for location_id in query.page(listed)]
        page = [_booking_location_json(bookings, site) for site in sites if site is not None]
        return page_response(request, query, page, len(listed), base_url, filters=kept)
    # A timeslot window lists only the sites with a free slot in it: each one is looked at.
    found = []
    for location_id in listed:
        site = await bookings.site(location_id, partner, within=(slot_from, slot_to))
        if site is not None and any(v.slots for v in site.calendars):
            found.append(site)
    page = [_booking_location_json(bookings, site) for site in query.page(found)]
    return page_response(request, query, page, len(found), base_url, filters=kept)


def _booking_location_json(bookings: Bookings, site: BookingSite) -> bytes:
    return to_json(v230.booking_location_of(
        site, access_methods=bookings.access_methods, terms_url=bookings.terms_url))


async def _one_location(request: web.Request, bookings: Bookings) -> web.Response:
    wanted = request.match_info["location_id"]
    calendar = request.match_info.get("calendar_id")
    known = bookings.catalog().canonical(wanted)
    site = (await bookings.site(known[0], parties(request)[0], only=calendar)
            if known is not None else None)
    if site is None:
        raise OcpiError(OcpiStatus.UNKNOWN_LOCATION, f"no BookingLocation {wanted}",
                        http_status=404)
    if calendar is None:
        return _data(_booking_location_json(bookings, site))
    views = [c for v in site.calendars
             if (c := v230.calendar_view(v, site.last_updated)) is not None]
    if not views:
        raise OcpiError(OcpiStatus.UNKNOWN_LOCATION,
                        f"no Calendar {calendar} with a free timeslot at {wanted}",
                        http_status=404)
    return _data(to_json(views[0]))


async def _list_bookings(request: web.Request, bookings: Bookings,
                         base_url: str | None) -> web.Response:
    query = page_query(request)
    date_from, date_to = _moment(query.date_from), _moment(query.date_to)
    found: list[Booking] = []
    for party in parties(request):
        found += [b for b in await bookings.ledger.of_partner(party.key)
                  if _in_window(b.updated_at, date_from, date_to)]
    found.sort(key=lambda b: (b.updated_at, b.key))
    page = [booking_json(bookings, b) for b in query.page(found)]
    return page_response(request, query, page, len(found), base_url)


def requesting_party(request: web.Request, body: v230.BookingRequest) -> Partner:
    """The eMSP the request names, which must be the partner (or the party a hub forwards
    for): nobody books, changes or cancels in another eMSP's name."""
    cc, pid = body.country_code.upper(), body.party_id.upper()
    allowed = {(p.country_code, p.party_id) for p in parties(request)}
    if (cc, pid) not in allowed:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"country_code/party_id {cc}-{pid} is not the requesting eMSP")
    return Partner(cc, pid)


async def _post(request: web.Request, bookings: Bookings) -> web.Response:
    body = await parse_body(request, v230.BookingRequest)
    partner = requesting_party(request, body)
    ask = v230.ask_of(body)
    known = bookings.catalog().canonical(ask.location_id)
    if known is None or ask.booking_location_id.casefold() != known[0].casefold():
        raise OcpiError(OcpiStatus.UNKNOWN_LOCATION,
                        f"no BookingLocation {ask.booking_location_id} at location "
                        f"{ask.location_id}")
    location_id = known[0]
    if not ask.is_cancellation and not bookings.bookable(location_id, partner):
        raise OcpiError(OcpiStatus.UNKNOWN_LOCATION,
                        f"location {location_id} offers no bookings")
    ask = replace(ask, location_id=location_id, booking_location_id=location_id)
    try:
        answer = await bookings.intake.submit(partner, ask)
    except UnknownBooking as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, str(exc)) from exc
    log.info("booking_request_answered", state=answer.booking.state.value,
             message=answer.message, **answer.booking.ids)
    return _data(booking_json(bookings, answer.booking), message=answer.message)
