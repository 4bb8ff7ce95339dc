"""How a bound booking ends with its binding reservation (``BookingBinder.settle`` and
``on_reservation`` ask ``BindingEnds.ended`` once the reservation is over).

Used (a transaction with the OCPP reservation id, or with the token inside the booking's use
window) → FULFILLED; used with the token before that window → unbound again, its promise back
on the class, bound anew by the binder's next run (``fulfilment`` has the rule); expired →
NO_SHOW (the charger is told, its clock is not ours); removed (fault, no fitting EVSE left) →
CANCELED by the CPO, BROKEN_CHARGER; cancelled while bound → CANCELED by the CPO; failed → the
promise a failed try may have left on an EVSE goes back to the class.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from ocpi_gateway.reservation_policy.bookings.fulfilment import in_use_window
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState, CancelReason
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState

log = structlog.get_logger(__name__)


class BindingEnds:
    def __init__(self, service: BookingService, reservations: ReservationService) -> None:
        self.service = service
        self.reservations = reservations

    async def ended(self, booking: Booking, r: Reservation, at: datetime | None = None
                    ) -> Booking | None:
        """The booking after its binding ``r`` ended. ``at``: when it ended, if known (else
        its record's last entry says)."""
        state = r.state
        if state is ReservationState.USED:
            if _used_with_its_id(r) or in_use_window(booking, at or _ended_at(r)):
                return await self.service.fulfil(booking,
                                                 reason="session started on the binding")
            return await self._unbind(booking, r)
        if state is ReservationState.EXPIRED:
            # The charger's clock is not ours: it is told, not left to expire it.
            self.reservations.in_background(self.reservations.cancel_quietly(r))
            return await self.service.no_show(booking)
        if state is ReservationState.REMOVED:
            return await self.service.cancel_by_cpo(
                booking, CancelReason.BROKEN_CHARGER,
                reason="the bound EVSE failed and no fitting EVSE is left")
        if state is ReservationState.CANCELLED and booking.bound:
            return await self.service.cancel_by_cpo(
                booking, CancelReason.UNKNOWN, reason="its reservation was cancelled")
        if state is ReservationState.FAILED:
            await self.unbind_promise(booking)
        return booking

    async def unbind_promise(self, booking: Booking) -> None:
        """A failed try may leave the promise on an EVSE it tried: back to the class."""
        current = await self.service.ledger.get(booking.key)
        if current is not None and current.state is BookingState.RESERVED and not current.bound:
            await self.service.reserve_promise(current, amend=True, sessions=False)

    async def _unbind(self, booking: Booking, r: Reservation) -> Booking | None:
        """Its binding was used by a transaction with one of its tokens but before its use
        window (the driver charging early on the bound charger's other EVSE): not the
        booking's use. Unbound again, its promise back on the class: the next run binds it
        anew, and a session in the window still fulfils it."""
        log.info("booking_binding_used_outside_window", reservation_key=r.key, **booking.ids)
        current = await self.service.ledger.get(booking.key)
        if current is None or current.state is not BookingState.RESERVED \
                or current.ocpp_reservation_id != r.ocpp_reservation_id:
            return current
        unbound = await self.service.ledger.transition(
            current, BookingState.RESERVED, reason="binding used outside the use window",
            evse_uid=None, charge_point_id=None, ocpp_reservation_id=None, bound_at=None)
        if unbound is not None:
            await self.service.reserve_promise(unbound, amend=True, sessions=False)
        return unbound


_USED_WITH_ITS_ID = "transaction started with the reservation id"
"""The reason ``charger_events`` records when a transaction names the OCPP reservation id."""


def _used_with_its_id(r: Reservation) -> bool:
    return bool(r.history) and r.history[-1].get("reason") == _USED_WITH_ITS_ID


def _ended_at(r: Reservation) -> datetime:
    return datetime.fromisoformat(r.history[-1]["at"]) if r.history else r.updated_at
