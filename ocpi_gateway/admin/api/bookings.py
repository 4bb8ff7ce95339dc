"""``/admin/api/bookings``: the bookings (OCPI 2.3.0) list, one booking's requests and
history, and cancelling one."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.admin.api.reads import operator, paged, part, served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.bookings import (
    BookingFilter,
    BookingPage,
    BookingView,
    get_booking,
    list_bookings,
)
from ocpi_gateway.admin.service.cancel import CancelBookingBody, cancel_booking
from ocpi_gateway.admin.service.reservations import reservation_key
from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.reservations.extension import RESERVATIONS

TAG = "bookings"
ONE = "/admin/api/bookings/{emsp}/{request_id}"


def key_of(call: Call) -> str:
    # A booking's key has the shape of a reservation's: the eMSP's party, the eMSP's id.
    return reservation_key(call.path["emsp"], call.path["request_id"])


async def bookings(call: Call) -> BookingPage:
    return await paged(lambda: list_bookings(call.app[keys.STORE], call.query))


async def booking(call: Call) -> BookingView:
    key = key_of(call)
    found = await get_booking(call.app[keys.STORE], key)
    if found is None:
        raise not_found(f"booking {key}")
    return found


async def cancel_a_booking(call: Call) -> BookingView:
    body: CancelBookingBody = call.body
    service = part(call, BOOKINGS, "the Bookings module").service
    reservations = call.app.get(RESERVATIONS)
    commands = reservations.commands if reservations is not None else None
    return await served(lambda: cancel_booking(service, commands, key_of(call),
                                               operator=operator(call), reason=body.reason,
                                               note=body.note))


OPERATIONS = [
    Operation("GET", "/admin/api/bookings", bookings, "bookings (OCPI 2.3.0), newest first: "
              "filter by state, site, eMSP, token, creation time", TAG,
              query=BookingFilter, response=BookingPage, errors=(400,)),
    Operation("GET", ONE, booking, "one booking with its requests and full history", TAG,
              response=BookingView, errors=(404,)),
    Operation("POST", ONE + "/cancel", cancel_a_booking, "cancel a live booking (the CPO's "
              "side): the eMSP is pushed the Booking CANCELED by the CPO", TAG,
              role=Role.OPERATOR, body=CancelBookingBody, response=BookingView,
              action="cancel_booking", errors=(404, 409)),
]
