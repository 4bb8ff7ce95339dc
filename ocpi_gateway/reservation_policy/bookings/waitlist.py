"""The waiting list: a request that did not fit waits PENDING up to ``waitlist_minutes``
(never past its binding time) and is granted when capacity frees at its site (a
cancellation, a no-show, a change, an EVSE back in service), first come first served: the
waiting requests are tried in the order they arrived, and one that still does not fit does
not hold back a later one that does. Once its wait is over it is REJECTED with the nearest
free timeslots.
"""

from __future__ import annotations

import structlog

from ocpi_gateway.reservation_policy.bookings.alternatives import nearest_message
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus

log = structlog.get_logger(__name__)


class WaitingList:
    def __init__(self, service: BookingService) -> None:
        self.service = service
        service.on_capacity_freed(self.grant)
        # Before a new booking or reservation takes capacity at a site, the requests waiting
        # there are tried (capacity freed where nothing offered it to them is theirs first).
        service.capacity.set_waiting_list(self.grant)

    async def grant(self, location_id: str) -> list[Booking]:
        """Try the site's waiting requests in arrival order; the ones granted, RESERVED."""
        svc = self.service
        granted: list[Booking] = []
        for waiting in await svc.ledger.waiting(location_id):
            now = svc.clock()
            assert waiting.waiting_until is not None
            if waiting.waiting_until <= now:
                await self._expire(waiting)
                continue
            admission = await svc.reserve_promise(waiting)
            if not admission.ok:
                continue
            reserved = await svc.ledger.transition(
                waiting, BookingState.RESERVED, reason="granted_from_waiting_list",
                decide=RequestStatus.ACCEPTED, message=None)
            if reserved is None:
                # Another writer won. A pass that read the same waiting request and granted
                # it first stands on this very promise (admitting it again was a retry of
                # it): only one that did not end RESERVED gives it back.
                stored = await svc.ledger.get(waiting.key)
                if stored is None or stored.state is not BookingState.RESERVED:
                    await svc.release_promise(waiting)
                continue
            log.info("booking_granted_from_waiting_list", **reserved.ids)
            granted.append(reserved)
        return granted

    async def expire(self, limit: int = 100) -> list[Booking]:
        """End every wait that is over (the sweep's job): REJECTED with the nearest free
        timeslots."""
        now = self.service.clock()
        ended = []
        for waiting in await self.service.ledger.waiting_anywhere(limit):
            assert waiting.waiting_until is not None
            if waiting.waiting_until <= now:
                rejected = await self._expire(waiting)
                if rejected is not None:
                    ended.append(rejected)
        return ended

    async def _expire(self, waiting: Booking) -> Booking | None:
        svc = self.service
        message = (f"waited until {waiting.waiting_until:%Y-%m-%dT%H:%M:%SZ} without "
                   f"capacity; {await nearest_message(svc, waiting, svc.clock())}")
        return await svc.ledger.transition(waiting, BookingState.REJECTED,
                                           reason="waiting_list_expired",
                                           decide=RequestStatus.DECLINED, message=message)
