"""An operator moves a booking (OCPI 2.3.0) to another EVSE of its site or gives it a later
end; the eMSP is pushed the Booking as it then is (the ledger's listener), as for every
change of a booking.

A move applies to a booking bound to an EVSE (from ``start - activation_lead_minutes``): its
binding is an ordinary reservation, moved as an operator moves a reservation (ReserveNow at
the new EVSE, CancelReservation at the old one), and the booking follows it (the binder).
Before that there is nothing to move: the booking is promised to any fitting EVSE and bound
to a free one when its time comes. Extending admits the longer promise on the capacity
timeline first; it is refused (409, naming why) when the capacity is promised to others."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ocpi_gateway.admin.service.bookings import BookingView, view
from ocpi_gateway.admin.service.errors import Conflict, NotFound
from ocpi_gateway.admin.service.reservation_acts import MoveBody
from ocpi_gateway.reservation_policy.acts import ActOutcome
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservation_policy.records import booked_reservation_id, reservation_key

OPERATOR_MOVED = "moved by the operator"
OPERATOR_EXTENDED = "end changed by the operator"


class ExtendBookingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_date: AwareDatetime = Field(description="the booking's new end, after its current "
                                    "one (to shorten a booking, the eMSP changes it)")
    note: str | None = Field(default=None, max_length=200,
                             description="why, kept in the booking's history")


def _reason(what: str, operator: str, note: str | None) -> str:
    return f"{what} {operator}" + (f": {note}" if note else "")


async def _reserved(service: BookingService, key: str) -> Booking:
    booking = await service.ledger.get(key)
    if booking is None:
        raise NotFound(f"no booking {key}")
    if booking.state is not BookingState.RESERVED:
        raise Conflict(f"booking {key} is {booking.state.value}, not RESERVED")
    return booking


async def move_booking(service: BookingService, reservations: ReservationService, key: str,
                       body: MoveBody, *, operator: str, time_budget: float) -> BookingView:
    booking = await _reserved(service, key)
    if not booking.bound:
        raise Conflict(f"booking {key} is not bound to an EVSE yet (it is, "
                       f"{booking.terms.activation_lead_minutes} min before its start, to "
                       "a free fitting one): nothing to move")
    binding = reservation_key(booking.partner, booked_reservation_id(booking.id))
    result = await reservations.move_by_cpo(
        binding, body.evse_uid, reason=_reason(OPERATOR_MOVED, operator, body.note),
        time_budget=time_budget)
    if result.outcome is not ActOutcome.DONE:
        raise Conflict(result.message)
    moved = await service.ledger.get(key)
    assert moved is not None
    return view(moved, with_history=True)


async def extend_booking(service: BookingService, key: str, body: ExtendBookingBody, *,
                         operator: str) -> BookingView:
    end: datetime = body.end_date
    for _ in range(5):
        booking = await _reserved(service, key)
        if end <= booking.end:
            raise Conflict(f"the new end must be after the booking's end "
                           f"({booking.end.isoformat()}); to shorten it, the eMSP changes "
                           "the booking")
        extended, admission = await service.extend_by_cpo(
            booking, end, reason=_reason(OPERATOR_EXTENDED, operator, body.note))
        if not admission.ok:
            raise Conflict(f"the site cannot take it longer: {admission.describe()}")
        if extended is not None:
            return view(extended, with_history=True)
        # Another writer changed it meanwhile: look again.
    raise Conflict(f"booking {key} keeps changing; try again")
