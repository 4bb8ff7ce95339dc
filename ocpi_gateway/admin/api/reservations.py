"""``/admin/api/reservations``: the reservations list, one reservation's history, and the
operator's acts on one."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.admin.api.reads import operator, paged, part, served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.cancel import (
    CancelledReservation,
    CancelReservationBody,
    cancel_reservation,
)
from ocpi_gateway.admin.service.reservations import (
    ReservationFilter,
    ReservationPage,
    ReservationView,
    get_reservation,
    list_reservations,
    reservation_key,
)
from ocpi_gateway.reservations.extension import RESERVATIONS

TAG = "reservations"
ONE = "/admin/api/reservations/{emsp}/{reservation_id}"


def key_of(call: Call) -> str:
    return reservation_key(call.path["emsp"], call.path["reservation_id"])


async def reservations(call: Call) -> ReservationPage:
    return await paged(lambda: list_reservations(call.app[keys.STORE], call.query))


async def reservation(call: Call) -> ReservationView:
    key = key_of(call)
    found = await get_reservation(call.app[keys.STORE], key)
    if found is None:
        raise not_found(f"reservation {key}")
    return found


async def cancel(call: Call) -> CancelledReservation:
    body: CancelReservationBody = call.body
    service = part(call, RESERVATIONS, "reservations")
    return await served(lambda: cancel_reservation(service, key_of(call),
                                                   operator=operator(call), note=body.note))


OPERATIONS = [
    Operation("GET", "/admin/api/reservations", reservations, "reservations, newest first: "
              "filter by state, site, eMSP, token, creation time", TAG,
              query=ReservationFilter, response=ReservationPage, errors=(400,)),
    Operation("GET", ONE, reservation, "one reservation with its full history", TAG,
              response=ReservationView, errors=(404,)),
    Operation("POST", ONE + "/cancel", cancel, "cancel a live reservation (the CPO's side): "
              "CancelReservation at the charger, the eMSP sent CANCELED_RESERVATION", TAG,
              role=Role.OPERATOR, body=CancelReservationBody, response=CancelledReservation,
              action="cancel_reservation", errors=(404, 409),
              description="Ends it REMOVED, as when the charger can no longer honour it: "
              "the eMSP's session completes, nothing is billed."),
]
