"""The EVSEs' statuses as partners see them: the charger's view with the reservation hold
over it, published (and pushed) when it moves, adopted from the shared availability store
when another gateway instance saw it move. Runs in the publisher's consumer task."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.pages import Pages
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation
from ocpi_gateway.locations.pushes import Pushes
from ocpi_gateway.locations.snapshots import Snapshots
from ocpi_gateway.locations.status import published_status
from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityStore,
    EvseAvailability,
    EvseStatus,
)
from ocpi_gateway.transport.envelope import ocpi_timestamp

SHARED_READ = 500
"""Locations read together from the shared store when adopting its statuses."""

StatusListener = Callable[[str, str, EvseStatus, str], None]
"""(location id, EVSE uid, published status, last_updated as published)."""


def _now() -> datetime:
    return datetime.now(UTC)


class LiveStatuses:
    def __init__(self, live: LiveLocations, pages: Pages, snapshots: Snapshots, pushes: Pushes,
                 availability: AvailabilityStore,
                 hold_ended: Callable[[str, str], None]) -> None:
        self._live, self._pages, self._snapshots, self._pushes = live, pages, snapshots, pushes
        self._availability = availability
        self._hold_ended = hold_ended
        """Queues the EVSE's refresh when its hold runs out."""
        self.queued: Counter[tuple[str, str]] = Counter()
        """EVSEs whose own refresh (with its push) is queued: the shared sync leaves them to it."""
        self.listeners: list[StatusListener] = []
        self._hold_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def stop(self) -> None:
        for timer in self._hold_timers.values():
            timer.cancel()

    async def refresh(self, location_id: str, evse_uid: str,
                      at: datetime | None = None) -> None:
        """Publish the EVSE's status as partners must see it (charger view + hold overlay)."""
        key = (location_id, evse_uid)
        self.queued[key] -= 1
        if self.queued[key] <= 0:
            del self.queued[key]
        current = await self._availability.get(location_id, evse_uid)
        if current is None:
            return
        held = current.holder is not None
        timer = self._hold_timers.pop((location_id, evse_uid), None)
        if timer is not None:
            timer.cancel()
        if held and current.hold_until is not None:
            delay = (current.hold_until - _now()).total_seconds() + 0.01
            self._hold_timers[(location_id, evse_uid)] = asyncio.get_running_loop().call_later(
                max(delay, 0.0), self._hold_ended, location_id, evse_uid)
        status = published_status(current.status, held=held)
        location = self._live.get(location_id)
        evse = location.evse(evse_uid) if location is not None else None
        if location is None or evse is None or evse.config.uid != evse_uid:
            return
        if evse.status is status:
            return
        # last_updated must never go back, even if a charger's clock lags ours.
        self.set(location, evse, status, ocpi_timestamp(at or _now()))
        # What partners were told survives a restart, so a status lost meanwhile is corrected;
        # written when the queue runs dry, so a burst of changes costs one write per location.
        self._snapshots.mark(location_id)
        for listener in self.listeners:
            listener(location_id, evse_uid, status, evse.last_updated)
        await self._pushes.evse_status(location, evse)

    def set(self, location: PublishedLocation, evse: PublishedEvse,
            status: EvseStatus, stamp: str) -> None:
        evse.status = status
        evse.last_updated = max(stamp, evse.last_updated)
        self._live.touch(location, evse.last_updated)
        self._pages.changed(location.id)

    async def adopt_shared(self) -> int:
        """Statuses other instances wrote to the shared availability store; how many EVSEs
        changed. No push: the instance that saw the change pushed it."""
        changed = 0
        locations = list(self._live)
        for start in range(0, len(locations), SHARED_READ):
            chunk = locations[start:start + SHARED_READ]
            # Read together (on Redis, a pipeline), not a round trip per location every
            # sweep (every second). What moves after the read is our own change (queued,
            # skipped below) or another instance's, for the next sweep.
            views = await self._availability.locations([location.id for location in chunk])
            for location in chunk:
                changed += self._adopt(location, views[location.id])
        return changed

    def _adopt(self, location: PublishedLocation,
               view: dict[str, EvseAvailability]) -> int:
        changed = 0
        for evse in location.evses:
            seen = view.get(evse.config.uid)
            if seen is None or evse.status is EvseStatus.REMOVED:
                continue
            if (location.id, evse.config.uid) in self.queued:
                continue  # our own change: its queued refresh publishes and pushes it
            status = published_status(seen.status, held=seen.holder is not None)
            if status is not evse.status:
                self.set(location, evse, status, ocpi_timestamp(seen.updated_at))
                changed += 1
        return changed
