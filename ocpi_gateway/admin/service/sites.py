"""Sites with every EVSE's live status, read from the shared availability store: right
whichever instance holds the charger (it writes there), not this instance's memory."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.locations.status import published_status
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus


class EvseView(BaseModel):
    uid: str
    charge_point_id: str
    ocpp_evse_id: int | None = None
    connectors: list[str]
    """Connector ids (OCPI), each with its OCPP connector id: ``"1 (ocpp 2)"``."""
    reservable: bool
    status: EvseStatus
    """As partners see it: the charger's view with the hold over it (RESERVED while held);
    UNKNOWN until a status was received."""
    charger_status: EvseStatus
    """What the charger's own statuses make of it, without the hold."""
    status_at: datetime | None = None
    held_by: str | None = None
    """The reservation key holding the EVSE, while a hold is in force."""
    hold_until: datetime | None = None


class SiteView(BaseModel):
    id: str
    name: str | None
    address: str
    city: str
    country_code: str
    party_id: str
    evses: list[EvseView]
    counts: dict[str, int]
    """EVSEs per status."""


class SitesPage(BaseModel):
    items: list[SiteView]
    total: int
    offset: int


def _connector_label(connector_id: str, ocpp_id: int | None) -> str:
    return connector_id if ocpp_id is None else f"{connector_id} (ocpp {ocpp_id})"


async def site_view(location: OperatorLocation, availability: AvailabilityStore) -> SiteView:
    live = await availability.location(location.id)
    evses: list[EvseView] = []
    counts: dict[str, int] = {}
    for evse in location.evses:
        seen = live.get(evse.uid)
        charger_status = seen.status if seen is not None else EvseStatus.UNKNOWN
        status = published_status(charger_status, held=seen is not None and
                                  seen.holder is not None)
        counts[status.value] = counts.get(status.value, 0) + 1
        evses.append(EvseView(
            uid=evse.uid, charge_point_id=evse.charge_point_id, ocpp_evse_id=evse.ocpp_evse_id,
            connectors=[_connector_label(c.id, c.ocpp_connector_id) for c in evse.connectors],
            reservable=evse.reservable, status=status, charger_status=charger_status,
            status_at=seen.updated_at if seen is not None else None,
            held_by=seen.holder if seen is not None else None,
            hold_until=seen.hold_until if seen is not None and seen.holder else None))
    return SiteView(id=location.id, name=location.name, address=location.address,
                    city=location.city, country_code=location.country_code,
                    party_id=location.party_id, evses=evses, counts=counts)


async def list_sites(catalog: LocationsCatalog, availability: AvailabilityStore, *,
                     offset: int = 0, limit: int = 100) -> SitesPage:
    locations = catalog.locations()
    page = locations[offset:offset + limit]
    return SitesPage(items=[await site_view(loc, availability) for loc in page],
                     total=len(locations), offset=offset)


async def get_site(catalog: LocationsCatalog, availability: AvailabilityStore,
                   location_id: str) -> SiteView | None:
    canonical = catalog.canonical(location_id)
    location = catalog.get(canonical[0] if canonical else location_id)
    return None if location is None else await site_view(location, availability)
