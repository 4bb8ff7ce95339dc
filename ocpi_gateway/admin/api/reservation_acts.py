"""``POST /admin/api/reservations/{emsp}/{reservation_id}/move`` and ``/extend``: the
operator moves a live reservation to another EVSE or gives it a new expiry (operator role,
audit-logged). 404 no such reservation; 409 not live, or refused (the target does not fit or
is busy, the charger said no, the bookings' capacity is promised), the message says why."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import operator, part, served
from ocpi_gateway.admin.api.reservations import ONE, TAG, key_of
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.reservation_acts import (
    ExtendBody,
    MoveBody,
    ReservationActAnswer,
    extend_reservation,
    move_reservation,
)
from ocpi_gateway.reservations.extension import RESERVATIONS


def _budget(call: Call) -> float:
    # Time for a second candidate's charger, as a re-route has.
    return 2 * call.app[keys.SETTINGS].command_timeouts.charger_seconds


async def move(call: Call) -> ReservationActAnswer:
    service = part(call, RESERVATIONS, "reservations")
    return await served(lambda: move_reservation(service, key_of(call), call.body,
                                                 operator=operator(call),
                                                 time_budget=_budget(call)))


async def extend(call: Call) -> ReservationActAnswer:
    service = part(call, RESERVATIONS, "reservations")
    return await served(lambda: extend_reservation(service, key_of(call), call.body,
                                                   operator=operator(call),
                                                   time_budget=_budget(call)))


OPERATIONS = [
    Operation("POST", ONE + "/move", move, "move a live reservation to another EVSE of its "
              "site: ReserveNow there, CancelReservation at the old one", TAG,
              role=Role.OPERATOR, body=MoveBody, response=ReservationActAnswer,
              action="move_reservation", errors=(400, 404, 409),
              description="The target must fit the reservation (connector, power), be "
              "RESERVABLE, in service and free; it ends REROUTED, the eMSP's session shows "
              "the new EVSE. Refused, the reservation stays where it was."),
    Operation("POST", ONE + "/extend", extend, "give a live reservation a new expiry on its "
              "EVSE (ReserveNow again with its id)", TAG, role=Role.OPERATOR,
              body=ExtendBody, response=ReservationActAnswer, action="extend_reservation",
              errors=(400, 404, 409),
              description="Later or earlier; a later one must fit beside what bookings were "
              "promised. Not for a booking's reservation (change the booking)."),
]
