"""When a session uses a booking (the issue's "Fulfilled" rule): a transaction with the OCPP
reservation id of its binding, or one started with a booking token inside
``[start - early_start_minutes, start + noshow_timeout_minutes]`` at the booking's site.

The first half is the binding reservation being used (``BookingBinder``); this module is the
second: the driver who arrives in the window and charges on another EVSE of the site, or
before the booking could be bound (every fitting EVSE still occupied). A transaction with the
token outside the window, or at another site, is someone charging with the same card; the
booking is left as it is (bound, or bound later by the scheduler). One transaction uses one
booking: the one whose slot starts first.

The time is the gateway's clock when the transaction is reported, not the charger's: the
gateway's clock decides no-shows too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from ocpi_gateway.domain.events import DomainEvent, TransactionStarted
from ocpi_gateway.domain.ids import presents
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState

log = structlog.get_logger(__name__)

SitesOfCharger = Callable[[str], Iterable[str]]
"""A charge point id → the ids of the locations its EVSEs belong to."""


def token_matches(booking: Booking, presented: str) -> bool:
    """Whether a charger's id token names one of the booking's tokens."""
    return any(presents(t.uid, presented) for t in booking.tokens)


def in_use_window(booking: Booking, at: datetime) -> bool:
    first, last = booking.use_window
    return first <= at <= last


def admits(booking: Booking, presented: str, at: datetime) -> bool:
    """Whether the token presented at ``at`` may use the booking: RESERVED (its binder's
    listener may not have fulfilled it yet) or FULFILLED by this very charge, one of its
    tokens, inside its use window."""
    return (booking.state in (BookingState.RESERVED, BookingState.FULFILLED)
            and token_matches(booking, presented) and in_use_window(booking, at))


class BookingUse:
    """An EventBus subscriber: a transaction started with a booking token in its use window
    fulfils the booking (its binding, if any, is given back by the binder's ``on_booking``)."""

    def __init__(self, service: BookingService, sites: SitesOfCharger) -> None:
        self.service = service
        self.sites = sites

    async def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionStarted) and event.id_token is not None:
            await self.transaction_started(event.charge_point_id, event.id_token,
                                           event.reservation_id)

    async def transaction_started(self, charge_point_id: str, id_token: str,
                                  reservation_id: int | None = None) -> Booking | None:
        """The booking this transaction fulfilled with its token, if any."""
        now = self.service.clock()
        near = [b for location_id in dict.fromkeys(self.sites(charge_point_id))
                for b in await self.service.ledger.near(location_id, now)]
        if any(b.charge_point_id == charge_point_id and (
                (reservation_id is not None and b.ocpp_reservation_id == reservation_id)
                or (b.state is BookingState.FULFILLED and token_matches(b, id_token)
                    and in_use_window(b, now))) for b in near):
            # It used a booking's binding on this charger (the reservation service saw it
            # first, and the binder decided): one transaction uses one booking.
            return None
        waiting = sorted((b for b in near if b.state is BookingState.RESERVED
                          and token_matches(b, id_token) and in_use_window(b, now)),
                         key=lambda b: (b.start, b.key))
        if not waiting:
            return None
        done = await self.service.fulfil(
            waiting[0], reason="transaction started with a booking token in its window")
        if done is not None:
            log.info("booking_fulfilled_by_token", transaction_charge_point_id=charge_point_id,
                     **done.ids)
        return done
