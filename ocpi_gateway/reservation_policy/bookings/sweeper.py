"""What a crash or a lost race can leave behind, settled: a request stored PENDING whose
decision never followed (the instance died between storing it and admitting it) ends FAILED
with its request FAILED and any promise given back; a change or cancellation of a RESERVED
booking left undecided the same way is decided FAILED, the booking kept as stored (its
promise put back as it has it: the change's amend may have reached the timeline); waits that
are over end REJECTED."""

from __future__ import annotations

from datetime import timedelta

import structlog

from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList

log = structlog.get_logger(__name__)

STALE_AFTER = timedelta(minutes=1)
"""A decision takes milliseconds; a PENDING record not waiting and untouched this long was
left by a crash."""


class BookingSweeper:
    def __init__(self, service: BookingService, waiting: WaitingList, *,
                 stale_after: timedelta = STALE_AFTER) -> None:
        self.service = service
        self.waiting = waiting
        self.stale_after = stale_after

    async def sweep(self) -> list[Booking]:
        """One pass: the stale PENDING records FAILED, the waits over REJECTED."""
        ended = await self.fail_stale()
        ended += await self.fail_open_requests()
        ended += await self.waiting.expire()
        return ended

    async def fail_open_requests(self, limit: int = 100) -> list[Booking]:
        svc = self.service
        decided: list[Booking] = []
        for b in await svc.ledger.open_requests(svc.clock() - self.stale_after, limit):
            failed = await svc.ledger.transition(
                b, b.state, reason="request_interrupted", decide=RequestStatus.FAILED,
                message="the request was interrupted before it was decided")
            if failed is None:
                continue
            await svc.reserve_promise(failed, amend=True)
            log.warning("booking_request_failed_after_interruption", **failed.ids)
            decided.append(failed)
        return decided

    async def fail_stale(self, limit: int = 100) -> list[Booking]:
        svc = self.service
        cutoff = svc.clock() - self.stale_after
        ended: list[Booking] = []
        for b in await svc.ledger.live(state=BookingState.PENDING.value, waiting=False):
            if b.updated_at > cutoff or len(ended) >= limit:
                continue
            failed = await svc.ledger.transition(
                b, BookingState.FAILED, reason="interrupted", decide=RequestStatus.FAILED,
                message="the request was interrupted before it was decided")
            if failed is not None:
                await svc.release_promise(failed)
                log.warning("booking_failed_after_interruption", **failed.ids)
                ended.append(failed)
        return ended
