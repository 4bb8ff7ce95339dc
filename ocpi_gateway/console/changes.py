"""What the console is told of: the changes the gateway's parts announce, as feed entries."""

from __future__ import annotations

from ocpi_gateway.console.feed import Change
from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.records import Reservation


def evse_change(location_id: str, evse_uid: str, status: EvseStatus, at: str) -> Change:
    return Change("evse", {"location_id": location_id, "evse_uid": evse_uid,
                           "status": status.value, "at": at})


def reservation_change(r: Reservation) -> Change:
    return Change("reservation", {"key": r.key, "emsp": r.partner.key, "state": r.state.value,
                                  "live": r.live, "location_id": r.location_id,
                                  "evse_uid": r.evse_uid, "booking": r.booking_key})


def booking_change(event: BookingTransitioned) -> Change:
    return Change("booking", {"key": event.booking_key, "state": event.state,
                              "location_id": event.location_id,
                              "emsp": f"{event.country_code}-{event.party_id}".upper()})
