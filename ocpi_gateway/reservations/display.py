"""Wiring of the "Reserved until HH:MM" display: reservation transitions → the OCPP adapter's
``ReservedDisplay``, with the end in the site's time zone (from the Locations catalog)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.ocpp_adapter.display import ReservedDisplay
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState


def site_zone(catalog: LocationsCatalog, location_id: str) -> tzinfo:
    location = catalog.get(location_id)
    if location is None:
        return UTC
    try:
        return ZoneInfo(location.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class ReservationDisplay:
    """A ``ReservationService`` listener: shown while live at a charger, cleared at the end.
    The charger round trips run in the background (the reservation's answer never waits)."""

    def __init__(self, display: ReservedDisplay, catalog: Callable[[], LocationsCatalog]
                 ) -> None:
        self.display = display
        self._catalog = catalog

    async def __call__(self, r: Reservation, previous: ReservationState) -> None:
        if r.live:
            if r.state is ReservationState.PENDING or r.charge_point_id is None \
                    or r.ocpp_reservation_id is None:
                return  # not at a charger yet
            self.display.in_background(self.display.reserved(
                r.key, charge_point_id=r.charge_point_id,
                evse_id=None if r.whole_charger else r.evse_id,
                message_id=r.ocpp_reservation_id, until=r.expiry,
                tz=site_zone(self._catalog(), r.location_id)))
        else:
            self.display.in_background(self.display.released(r.key))
