"""The gateway's own expiry clock.

OCPP 1.6 sends no reservation id when a reservation expires, and a connector-0 reservation
changes no status at all, so the gateway cannot wait for the charger to tell it. Every
instance may run the clock: ``ReservationService.expire_due`` claims each reservation with a
compare-and-set, so one instance wins and the others skip it.
"""

from __future__ import annotations

import asyncio

import structlog

from ocpi_gateway.reservation_policy.lifecycle import ReservationService

log = structlog.get_logger(__name__)


class ExpiryClock:
    def __init__(self, service: ReservationService, *, interval: float = 1.0) -> None:
        self._service = service
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                expired = await self._service.expire_due()
                if expired:
                    log.info("reservations_expired", count=expired)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A store hiccup must not stop the clock for good.
                log.exception("expiry_scan_failed")
            await asyncio.sleep(self._interval)
