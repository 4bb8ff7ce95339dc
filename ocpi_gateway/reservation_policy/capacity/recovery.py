"""The capacity timeline after Redis lost its data: every site where bookings are possible is
restored from the durable store (its supply, its live reservations' and bookings' promises)
before the gateway is ready again.

``rebuild_all`` runs as a hold restorer of the availability recovery, so while it runs the
availability gate is closed (decisions wait, ``/ready`` 503). ``rebuilt`` is false from its
start until one pass succeeded (the gateway's ``capacity`` readiness check): a pass that
failed (the store away) is run again by the ``capacity-rebuild`` loop. Meanwhile a site
touched by an admission is restored on its own (``ReservationCapacity`` on NO_INVENTORY), and
the restore never drops what another instance admitted: nothing is overbooked in between.
One pass runs at a time: the loop does not start a second while the rebuild's own still runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.models import EvseCandidate

log = structlog.get_logger(__name__)

Sites = Callable[[], Awaitable[list[tuple[str, Sequence[EvseCandidate]]]]]
"""Every location with its reservable EVSEs as candidates."""


class CapacityRecovery:
    def __init__(self, capacity: ReservationCapacity, sites: Sites, *,
                 retry_interval: float = 2.0, loops: LoopRegistry | None = None) -> None:
        self._capacity = capacity
        self._sites = sites
        self.rebuilt = True
        """False from the start of a rebuild until one pass succeeded."""
        self.rebuilds = 0
        self._pass = asyncio.Lock()
        self.loop = BackgroundLoop("capacity-rebuild", self._retry, interval=retry_interval,
                                   registry=loops, run_at_start=False)

    async def rebuild_all(self) -> int:
        """Restore every site where bookings are possible; how many promises were put back."""
        self.rebuilt = False
        async with self._pass:
            self.rebuilds += 1
            restored = sites = 0
            for location_id, candidates in await self._sites():
                if not self._capacity.applies(location_id):
                    continue
                restored += await self._capacity.restore(location_id, candidates)
                sites += 1
            self.rebuilt = True
        log.info("capacity_rebuilt", sites=sites, promises=restored)
        return restored

    async def _retry(self) -> None:
        if not self.rebuilt and not self._pass.locked():
            await self.rebuild_all()

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
