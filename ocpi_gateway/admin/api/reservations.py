"""``/admin/api/reservations``: the reservations list and one reservation's history."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.admin.api.reads import paged
from ocpi_gateway.admin.service.reservations import (
    ReservationFilter,
    ReservationPage,
    ReservationView,
    get_reservation,
    list_reservations,
    reservation_key,
)

TAG = "reservations"
ONE = "/admin/api/reservations/{emsp}/{reservation_id}"


async def reservations(call: Call) -> ReservationPage:
    return await paged(lambda: list_reservations(call.app[keys.STORE], call.query))


async def reservation(call: Call) -> ReservationView:
    key = reservation_key(call.path["emsp"], call.path["reservation_id"])
    found = await get_reservation(call.app[keys.STORE], key)
    if found is None:
        raise not_found(f"reservation {key}")
    return found


OPERATIONS = [
    Operation("GET", "/admin/api/reservations", reservations, "reservations, newest first: "
              "filter by state, site, eMSP, token, creation time", TAG,
              query=ReservationFilter, response=ReservationPage, errors=(400,)),
    Operation("GET", ONE, reservation, "one reservation with its full history", TAG,
              response=ReservationView, errors=(404,)),
]
