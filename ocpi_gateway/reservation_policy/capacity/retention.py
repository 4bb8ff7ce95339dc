"""Past promises leave the capacity timeline: the ``capacity-prune`` loop drops, at every site
of the catalogue, the promises (bookings, reservations, sessions) that ended more than
``RETENTION`` ago. Without it a site's timeline, in Redis or in-process, grows by every
booking ever made.

The margin is ``MAX_INTERVAL`` (24 h): an admitted or amended promise lasts at most that long
and ends after now, so no promise pruned can overlap one an admission checks; and ``spare``,
the calendars and the binder read from now on. What loses them is ``policy explain
--timeline --start`` more than a day back (the console's timeline and the reports read the
stored records, not this). Every instance may run it: a prune is atomic per site and drops
the same promises whoever runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry, Sleep
from ocpi_gateway.reservation_policy.capacity.base import MAX_INTERVAL, CapacityTimeline

log = structlog.get_logger(__name__)

RETENTION: timedelta = MAX_INTERVAL
"""How long an ended promise stays on the timeline."""

PRUNE_INTERVAL = 600.0
"""Seconds between two passes: a site gains a few hundred promises a day at most."""

Sites = Callable[[], Iterable[str]]
"""The location ids to prune (the catalogue's)."""


class CapacityPruner:
    def __init__(self, timeline: CapacityTimeline, sites: Sites, *,
                 clock: Callable[[], datetime] = utc_now, retention: timedelta = RETENTION,
                 interval: float = PRUNE_INTERVAL, loops: LoopRegistry | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._timeline = timeline
        self._sites = sites
        self._clock = clock
        self.retention = retention
        self.pruned = 0
        """Promises dropped since the start."""
        self.loop = BackgroundLoop("capacity-prune", self.prune_all, interval=interval,
                                   registry=loops, quiet=(RedisError,), sleep=sleep)

    async def prune_all(self) -> int:
        """One pass over every site; how many promises were dropped."""
        before = self._clock() - self.retention
        dropped = 0
        for location_id in list(self._sites()):
            dropped += await self._timeline.prune(location_id, before)
        self.pruned += dropped
        if dropped:
            log.info("capacity_pruned", promises=dropped, before=before.isoformat())
        return dropped

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
