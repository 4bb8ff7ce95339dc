"""``POST /admin/api/bookings/{emsp}/{request_id}/move`` and ``/extend``: the operator moves a
bound booking to another EVSE of its site or gives a booking a later end (operator role,
audit-logged; the eMSP is pushed the Booking). 404 no such booking; 409 not RESERVED, not
bound yet (a move), or refused (the target does not fit or is busy, the charger said no, the
capacity is promised to others), the message says why."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.bookings import ONE, TAG, key_of
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import operator, part, served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.booking_acts import (
    ExtendBookingBody,
    extend_booking,
    move_booking,
)
from ocpi_gateway.admin.service.bookings import BookingView
from ocpi_gateway.admin.service.reservation_acts import MoveBody
from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.reservations.extension import RESERVATIONS


async def move_a_booking(call: Call) -> BookingView:
    service = part(call, BOOKINGS, "the Bookings module").service
    reservations = part(call, RESERVATIONS, "reservations")
    # Time for a second candidate's charger, as a re-route has.
    budget = 2 * call.app[keys.SETTINGS].command_timeouts.charger_seconds
    return await served(lambda: move_booking(service, reservations, key_of(call), call.body,
                                             operator=operator(call), time_budget=budget))


async def extend_a_booking(call: Call) -> BookingView:
    service = part(call, BOOKINGS, "the Bookings module").service
    return await served(lambda: extend_booking(service, key_of(call), call.body,
                                               operator=operator(call)))


OPERATIONS = [
    Operation("POST", ONE + "/move", move_a_booking, "move a bound booking to another EVSE "
              "of its site: its reservation is moved (ReserveNow there, CancelReservation at the "
              "old one), the eMSP is pushed the Booking with the new EVSE", TAG,
              role=Role.OPERATOR, body=MoveBody, response=BookingView,
              action="move_booking", errors=(400, 404, 409),
              description="Only a RESERVED booking bound to an EVSE (from its start minus "
              "the activation lead); the target must fit it, be in service and free."),
    Operation("POST", ONE + "/extend", extend_a_booking, "give a RESERVED booking a later "
              "end: its promise on the site's capacity grows, the eMSP is pushed the Booking", TAG,
              role=Role.OPERATOR, body=ExtendBookingBody, response=BookingView,
              action="extend_booking", errors=(400, 404, 409),
              description="Refused when the site's capacity is promised to others then; "
              "the booking is then unchanged."),
]
