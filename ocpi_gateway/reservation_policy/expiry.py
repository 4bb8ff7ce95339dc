"""The gateway's own expiry clock.

OCPP 1.6 sends no reservation id when a reservation expires, and a connector-0 reservation
changes no status at all, so the gateway cannot wait for the charger to tell it. Every
instance may run the clock: ``ReservationService.expire_due`` claims each reservation with a
compare-and-set, so one instance wins and the others skip it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog

from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.records import ReservationState

log = structlog.get_logger(__name__)


async def expire_due(core: ReservationCore, now: datetime, *, page_size: int = 100) -> int:
    """End every live reservation whose expiry passed, all of them, page by page (one page a
    tick left a burst of expiries seconds behind, 100 a second). Safe on several instances
    at once: the compare-and-set of the transition decides which one expires each one."""
    expired = 0
    async for page in core.repo.walk_due(now, page_size):
        for r in page:
            if await core.end(r, ReservationState.EXPIRED, "expiry clock") is not None:
                expired += 1
    return expired


class Expires(Protocol):
    async def expire_due(self, now: datetime | None = None) -> int: ...


class ExpiryClock:
    """Runs ``expire_due`` every ``interval`` seconds (a ``BackgroundLoop``)."""

    def __init__(self, service: Expires, *, interval: float = 1.0,
                 loops: LoopRegistry | None = None) -> None:
        self._service = service
        self.loop = BackgroundLoop("reservations-expiry", self._expire, interval=interval,
                                   registry=loops)

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def _expire(self) -> None:
        expired = await self._service.expire_due()
        if expired:
            log.info("reservations_expired", count=expired)
