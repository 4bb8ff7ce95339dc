"""What the Bookings module's handlers and pushes share (``app[BOOKINGS]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from ocpi_gateway.bookings.calendars import BookingSite, SiteChanges, booking_site
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.reservation_policy.bookings.binder import BookingBinder
from ocpi_gateway.reservation_policy.bookings.intake import BookingIntake
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.sweeper import BookingSweeper
from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
from ocpi_gateway.reservation_policy.capacity.slots import SpareSource
from ocpi_gateway.reservation_policy.models import Partner


@dataclass(slots=True)
class Bookings:
    service: BookingService
    intake: BookingIntake
    waiting: WaitingList
    sweeper: BookingSweeper
    changes: SiteChanges
    catalog: Callable[[], LocationsCatalog]
    party: tuple[str, str]
    """Our CPO party, for objects of a location the catalog no longer has."""
    access_methods: tuple[str, ...] = ("OPEN",)
    terms_url: str | None = None
    binder: BookingBinder | None = None
    """The late-binding scheduler (None without the reservation service)."""
    spare: SpareSource | None = None
    """How calendars read the timeline (the extension's ``SpareCache``)."""

    @property
    def ledger(self) -> BookingLedger:
        return self.service.ledger

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.service.clock

    def bookable(self, location_id: str, partner: Partner) -> bool:
        """Whether ``partner`` may book at the (published) location."""
        location = self.catalog().get(location_id)
        return (location is not None and location.publish
                and self.service.policy.effective(location.id, partner).bookings.enabled)

    def party_of(self, location_id: str) -> tuple[str, str]:
        location = self.catalog().get(location_id)
        return (location.country_code, location.party_id) if location else self.party

    async def site(self, location_id: str, partner: Partner, *, only: str | None = None,
                   within: tuple[datetime | None, datetime | None] = (None, None)
                   ) -> BookingSite | None:
        """The BookingLocation of ``location_id`` as ``partner`` may book it; None when it
        may not."""
        if not self.bookable(location_id, partner):
            return None
        location = self.catalog().get(location_id)
        assert location is not None
        svc = self.service
        candidates = await svc.candidates.candidates(location.id)
        return await booking_site(
            svc.capacity, location, candidates, svc.policy.effective(location.id, partner),
            now=svc.clock(), last_updated=self.changes.last(location.id),
            reservation_required=svc.policy.reservation_only(location.id), only=only,
            within=within, spare=self.spare)


BOOKINGS: web.AppKey[Bookings] = web.AppKey("bookings", Bookings)

