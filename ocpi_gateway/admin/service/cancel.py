"""An operator cancels a reservation or a booking: the CPO-side end the eMSP learns of as
OCPI says (CANCELED_RESERVATION and the session completed; the Booking pushed CANCELED, by
the CPO), never billed. The API and the CLI both call these."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.bookings import BookingView
from ocpi_gateway.admin.service.bookings import view as booking_view
from ocpi_gateway.admin.service.errors import Conflict, NotFound
from ocpi_gateway.admin.service.reservations import ReservationView, view
from ocpi_gateway.domain.charger_commands import CancelReservation, ChargerCommands
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import CancelReason
from ocpi_gateway.reservation_policy.lifecycle import CancelOutcome, ReservationService
from ocpi_gateway.reservation_policy.records import OPERATOR_CANCELLED

CHARGER_WAIT = 10.0
"""Seconds the charger is given to answer CancelReservation: it ends on the gateway anyway."""


class CancelReservationBody(BaseModel):
    note: str | None = Field(default=None, max_length=200,
                             description="why, kept in the reservation's history")


class CancelBookingBody(BaseModel):
    reason: CancelReason = Field(default=CancelReason.UNKNOWN,
                                 description="the OCPI CanceledReason the eMSP is sent")
    note: str | None = Field(default=None, max_length=200,
                             description="why, kept in the booking's history")


class CancelledReservation(BaseModel):
    reservation: ReservationView
    charger_answer: str | None
    """The charger's answer to CancelReservation (null: none was sent, e.g. still pending
    at no charger)."""


def operator_reason(operator: str, note: str | None) -> str:
    return f"{OPERATOR_CANCELLED} {operator}" + (f": {note}" if note else "")


async def cancel_reservation(service: ReservationService, key: str, *, operator: str,
                             note: str | None = None) -> CancelledReservation:
    result = await service.cancel_by_cpo(key, reason=operator_reason(operator, note),
                                         charger_wait=CHARGER_WAIT)
    if result.outcome is CancelOutcome.ACCEPTED and result.reservation is not None:
        return CancelledReservation(
            reservation=view(result.reservation, with_history=True),
            charger_answer=result.charger_outcome.value if result.charger_outcome else None)
    if result.reservation is None:
        raise NotFound(f"no reservation {key}")
    raise Conflict(f"reservation {key} is {result.reservation.state.value}, not live")


async def cancel_booking(service: BookingService, commands: ChargerCommands | None, key: str,
                         *, operator: str, reason: CancelReason = CancelReason.UNKNOWN,
                         note: str | None = None) -> BookingView:
    """A live booking ends CANCELED by the CPO (its promise given back, the waiting list
    offered the capacity); bound to an EVSE, its OCPP reservation is cancelled there too."""
    for _ in range(5):
        booking = await service.ledger.get(key)
        if booking is None:
            raise NotFound(f"no booking {key}")
        if not booking.live:
            raise Conflict(f"booking {key} is {booking.state.value}, not live")
        ended = await service.cancel_by_cpo(booking, reason,
                                            reason=operator_reason(operator, note))
        if ended is None:
            continue  # another writer changed it meanwhile: look again
        if commands is not None and ended.charge_point_id is not None \
                and ended.ocpp_reservation_id is not None:
            await commands.execute(CancelReservation(
                charge_point_id=ended.charge_point_id,
                reservation_id=ended.ocpp_reservation_id), CHARGER_WAIT)
        return booking_view(ended, with_history=True)
    raise Conflict(f"booking {key} keeps changing; try again")
