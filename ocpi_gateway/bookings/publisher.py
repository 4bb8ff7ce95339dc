"""Pushes of the Bookings module to eMSPs that implement its RECEIVER (on 2.3.0), through the
outbox: every transition of a booking goes to the eMSP that booked
(``{url}/{cpo cc}/{cpo pid}/{booking id}``); every change of a site's calendars (a booking, a
cancellation, a fault or status change, a policy or locations reload) goes as its
BookingLocation (``{url}/{cpo cc}/{cpo pid}/booking_locations/{id}``) to every receiver that
may book there, as that receiver's terms make it; a receiver registered later gets every
site's (``welcome_new_receivers``, the ``bookings-welcome`` loop).

As for Locations, an object is PUT whole once, then PATCHed with what changed and its
``last_updated`` (``deliveries.partial``): a Booking's new state, its bound EVSE or requests;
a BookingLocation's changed fields, and each changed Calendar at
``.../booking_locations/{id}/{calendar id}``. PATCHes of one object coalesce in the outbox; one
the receiver refuses is repaired by GET, then PUT of the whole current object (the outbox's
resync, ``resync``). Changes of one site close together are pushed once (``debounce``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from ocpi_gateway.bookings.context import Bookings
from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.deliveries.partial import Json, SentCopies
from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.ocpi.v2_3_0 import bookings as v230
from ocpi_gateway.partners.models import Partner as OcpiPartner
from ocpi_gateway.reservation_policy.bookings import records as internal
from ocpi_gateway.reservation_policy.models import Partner

log = structlog.get_logger(__name__)

VERSION = "2.3.0"
RESYNC_KIND = "bookings"
CALENDARS = "calendars"
"""The BookingLocation's children, each PATCHed at its own URL."""
IDENTIFIERS = frozenset({"bookings", "booking"})
"""The module identifier as partners spell it: the official OpenAPI's ModuleID is
``bookings``; the module text says ``Booking`` (ocpi/ocpi#577). Compared case-insensitively."""


def bookings_endpoint(partner: OcpiPartner, role: str = "RECEIVER") -> str | None:
    """The partner's Bookings endpoint in ``role``, under any spelling of the identifier."""
    for endpoint in partner.endpoints:
        if endpoint.identifier.casefold() in IDENTIFIERS and endpoint.role == role:
            return endpoint.url.rstrip("/")
    return None


@dataclass(frozen=True, slots=True)
class BookingsReceiver:
    partner_id: str
    url: str
    party: Partner
    """The eMSP role whose terms shape what it is sent."""


def bookings_receivers(registered: Callable[[], Awaitable[Sequence[OcpiPartner]]]
                       ) -> Callable[[], Awaitable[list[BookingsReceiver]]]:
    """Every registered partner on 2.3.0 with a Bookings RECEIVER, one per eMSP role."""

    async def receivers() -> list[BookingsReceiver]:
        found = []
        for p in await registered():
            url = bookings_endpoint(p)
            if url is None or p.version != VERSION:
                continue
            found += [BookingsReceiver(p.id, url, Partner(r.country_code.upper(),
                                                          r.party_id.upper()))
                      for r in p.roles if r.role == "EMSP"]
        return found

    return receivers


def _headers(cpo: tuple[str, str], emsp: Partner) -> dict[str, str]:
    return {"OCPI-from-country-code": cpo[0], "OCPI-from-party-id": cpo[1],
            "OCPI-to-country-code": emsp.country_code, "OCPI-to-party-id": emsp.party_id}


class BookingsPublisher:
    def __init__(self, bookings: Bookings, outbox: DeliveryEngine | None,
                 receivers: Callable[[], Awaitable[list[BookingsReceiver]]], *,
                 store: DocumentStore, debounce: float = 0.2) -> None:
        """``store``: where what each receiver was sent is kept (``SentCopies``)."""
        self._bookings = bookings
        self._outbox = outbox
        self._copies = SentCopies(store)
        if outbox is not None:
            outbox.register_resync(RESYNC_KIND, self.resync)
        self._receivers = receivers
        self._debounce = debounce
        self._scheduled: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._welcomed: set[BookingsReceiver] = set()
        """Receivers this instance has sent every BookingLocation, or found at its start."""

    async def know_receivers(self) -> None:
        """At start: the receivers registered now were sent what they hold before (the outbox
        keeps what was queued); only those that come later are welcomed."""
        self._welcomed = set(await self._receivers())

    async def welcome_new_receivers(self) -> list[str]:
        """Every site's BookingLocation to each receiver registered (or switched to 2.3.0)
        since, as Locations are sent to a new partner; their partner ids."""
        if self._outbox is None:
            return []
        current = await self._receivers()
        await self._forget_gone(current)
        fresh = [r for r in current if r not in self._welcomed]
        for receiver in fresh:
            for location in self._bookings.catalog().locations():
                await self._push_site_to(location.id, receiver, whole=True)
            self._welcomed.add(receiver)
            log.info("booking_locations_welcomed", partner_id=receiver.partner_id,
                     party=receiver.party.key)
        return [r.partner_id for r in fresh]

    async def _forget_gone(self, current: list[BookingsReceiver]) -> None:
        """What was sent to partners no longer receiving (unregistered, revoked, moved off
        2.3.0 or off the Bookings receiver) leaves the store of copies."""
        staying = {r.partner_id for r in current}
        gone = {r.partner_id for r in self._welcomed} - staying
        self._welcomed = {r for r in self._welcomed if r.partner_id in staying}
        for partner_id in sorted(gone):
            forgotten = await self._copies.forget_partner(partner_id)
            log.info("booking_copies_forgotten", partner_id=partner_id, copies=forgotten)

    async def on_transition(self, event: BookingTransitioned) -> None:
        """A ``BookingLedger`` listener: the Booking to its eMSP, the site's calendars to
        everyone (the booking changed what is free)."""
        await self.push_booking(event)
        self.site_changed(event.location_id)

    async def push_booking(self, event: BookingTransitioned) -> None:
        if self._outbox is None:
            return
        emsp = Partner(event.country_code, event.party_id)
        # The eMSP's receivers first: a booking is read again only when someone is told.
        receivers = [r for r in await self._receivers() if r.party == emsp]
        if not receivers:
            return
        booking = await self._bookings.ledger.get(event.booking_key)
        if booking is None:
            return
        cpo = self._bookings.party_of(booking.location_id)
        body = self._booking_body(booking, cpo)
        for receiver in receivers:
            url = f"{receiver.url}/{cpo[0]}/{cpo[1]}/{booking.id}"
            # Created: PUT; later transitions PATCH what changed; once final nothing more
            # will be sent, so its copy goes.
            plan = await self._copies.plan(receiver.partner_id, url, body,
                                           whole=event.previous is None, keep=booking.live)
            if plan.put is None and not plan.patches:
                continue  # nothing the eMSP holds changed
            await self._outbox.enqueue_many(plan.outgoing(
                receiver.partner_id, url, headers=_headers(cpo, emsp),
                resync={"kind": RESYNC_KIND, "booking_key": booking.key}))
            log.info("booking_pushed", state=booking.state.value, partner_id=receiver.partner_id,
                     method="PUT" if plan.put is not None else "PATCH",
                     fields=sorted({k for p in plan.patches for k in p.body}), **booking.ids)

    def _booking_body(self, booking: internal.Booking, cpo: tuple[str, str]) -> Json:
        body: Json = to_jsonable(v230.booking_of(
            booking, cpo, access_methods=self._bookings.access_methods,
            terms_url=self._bookings.terms_url))
        return body

    def site_changed(self, location_id: str) -> None:
        """The site's calendars changed: remember when, and push them soon (once for changes
        close together)."""
        self._bookings.changes.touch(location_id)
        if location_id in self._scheduled:
            return
        task = asyncio.get_running_loop().create_task(self._push_later(location_id))
        self._scheduled[location_id] = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def all_changed(self) -> None:
        """A policy or locations reload: every site."""
        self._bookings.changes.touch_all()
        for location in self._bookings.catalog().locations():
            self.site_changed(location.id)

    async def _push_later(self, location_id: str) -> None:
        try:
            await asyncio.sleep(self._debounce)
        finally:
            self._scheduled.pop(location_id, None)
        try:
            await self.push_site(location_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("booking_location_push_failed", location_id=location_id)

    async def push_site(self, location_id: str) -> int:
        """The site's BookingLocation to every receiver that may book there (PUT, or PATCHes
        of what changed); to how many something was queued."""
        if self._outbox is None:
            return 0
        pushed = 0
        for receiver in await self._receivers():
            pushed += await self._push_site_to(location_id, receiver)
        return pushed

    async def _push_site_to(self, location_id: str, receiver: BookingsReceiver, *,
                            whole: bool = False) -> int:
        body = await self._site_body(location_id, receiver.party)
        if body is None or self._outbox is None:
            return 0
        cpo = (str(body["country_code"]), str(body["party_id"]))
        url = f"{receiver.url}/{cpo[0]}/{cpo[1]}/booking_locations/{location_id}"
        plan = await self._copies.plan(receiver.partner_id, url, body, children=CALENDARS,
                                       whole=whole)
        await self._outbox.enqueue_many(plan.outgoing(
            receiver.partner_id, url, headers=_headers(cpo, receiver.party),
            resync={"kind": RESYNC_KIND, "location_id": location_id,
                    "party": [receiver.party.country_code, receiver.party.party_id]}))
        return 1 if plan.put is not None or plan.patches else 0

    async def _site_body(self, location_id: str, party: Partner) -> Json | None:
        site = await self._bookings.site(location_id, party)
        if site is None:
            return None
        body: Json = to_jsonable(v230.booking_location_of(
            site, access_methods=self._bookings.access_methods,
            terms_url=self._bookings.terms_url))
        return body

    async def resync(self, delivery: Delivery) -> tuple[str, Any] | None:
        """The receiver refused a PATCH of a Booking, a BookingLocation or a Calendar: the
        whole current Booking or BookingLocation to PUT at its URL (an object gone: None)."""
        assert delivery.resync is not None
        what = delivery.resync
        url = str(what["url"])
        await self._copies.forget(delivery.partner_id, url)
        if "booking_key" in what:
            booking = await self._bookings.ledger.get(str(what["booking_key"]))
            if booking is None:
                return None
            body = self._booking_body(booking, self._bookings.party_of(booking.location_id))
        else:
            country_code, party_id = what["party"]
            found = await self._site_body(str(what["location_id"]),
                                          Partner(str(country_code), str(party_id)))
            if found is None:
                return None
            body = found
        return url, body

    async def flush(self) -> None:
        """Wait for the pushes scheduled (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def stop(self) -> None:
        await cancel_all(self._running, name="bookings-push")
