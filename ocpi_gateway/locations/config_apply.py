"""Publishing the operator's catalog over what was published before: a location or EVSE whose
configuration changed is new (``last_updated`` now), one that did not keeps its timestamps and
takes the catalog's new objects; an EVSE or location gone from the file stays, REMOVED (OCPI
never deletes one). Changes are found by digests of each location's and EVSE's configuration,
which snapshots keep, so a restart knows what changed while it was down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ocpi_gateway.domain.digests import json_digest
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.live import Digests, LiveLocations
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.locations.published import Dumped, PublishedEvse, PublishedLocation, dump
from ocpi_gateway.locations.status import published_status
from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityStore,
    EvseAvailability,
    EvseStatus,
)
from ocpi_gateway.transport.envelope import ocpi_timestamp

YIELD_EVERY = 0.005
"""Seconds of publishing work between two hand-backs of the event loop."""

Prepared = dict[str, Digests]
"""location id → its configuration digests."""


def digests_of(dumped: Dumped) -> Digests:
    found = {"": json_digest(dumped.own)}
    for uid, (_, part) in dumped.evses.items():
        found[uid] = json_digest(part)
    return found


def digests(location: OperatorLocation) -> Digests:
    return digests_of(dump(location))


class Yielder:
    """Hands the event loop back every YIELD_EVERY seconds of work: publishing 10,000
    locations must not stall chargers and partners."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        if time.perf_counter() - self._since > YIELD_EVERY:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


@dataclass(slots=True)
class Applied:
    changed: list[str] = field(default_factory=list)
    """Locations to PUT again (their configuration changed, or EVSEs were removed)."""
    status_changes: list[tuple[str, str]] = field(default_factory=list)
    """(location, EVSE) whose status moved while nothing else did (e.g. during a restart)."""


Changed = Callable[[PublishedLocation, Dumped | None], Awaitable[None]]
"""Told of each location that changed as soon as it is published, with its configuration's
dump when one was made (the snapshots, written in batches as the catalog is applied)."""


CHUNK = 500
"""Locations whose availability is read (and initialised) in one request to the store."""


async def apply_catalog(live: LiveLocations, catalog: LocationsCatalog, prepared: Prepared | None,
                        availability: AvailabilityStore, pause: Yielder,
                        changed: Changed | None = None) -> Applied:
    """``prepared``: the catalog's digests; None to take them here of each location's dump,
    which ``changed`` then gets (a start, where every location is dumped anyway: the dumps
    of 10,000 locations are not kept until all are applied)."""
    now = ocpi_timestamp()
    applied = Applied()
    present: set[str] = set()
    locations = catalog.locations()
    for start in range(0, len(locations), CHUNK):
        chunk = locations[start:start + CHUNK]
        # The chunk's availability first (on Redis, one pipeline rather than a round trip
        # per location and per new EVSE, which was most of a start's CPU); a status that
        # moves meanwhile is published by its refresh, queued behind this publish.
        known = await availability.initialise_locations(
            {location.id: [config.uid for config in location.evses] for location in chunk},
            datetime.now(UTC))
        for location in chunk:
            await pause()
            present.add(location.id)
            published, unchanged, dumped = _apply_location(
                live, location, known[location.id], prepared, now, applied)
            if not unchanged:
                applied.changed.append(location.id)
                if changed is not None:
                    await changed(published, dumped)
    for gone in live:
        await pause()
        if gone.id in present:
            continue
        # A location gone from the file: its EVSEs become REMOVED, the location stays.
        if any(e.status is not EvseStatus.REMOVED for e in gone.evses):
            for evse in gone.evses:
                evse.status, evse.last_updated = EvseStatus.REMOVED, now
            gone.last_updated = now
            applied.changed.append(gone.id)
            if changed is not None:
                await changed(gone, None)
    await pause()
    live.reindex()
    return applied


def _apply_location(live: LiveLocations, location: OperatorLocation,
                    known_evses: dict[str, EvseAvailability], prepared: Prepared | None,
                    now: str, applied: Applied) -> tuple[PublishedLocation, bool, Dumped | None]:
    """Put ``location`` live over what was published of it: (it, whether it is unchanged,
    its configuration's dump when one was made)."""
    # No await (its availability was read before): a reader (a GET during a reload) sees
    # this location as it was or as it becomes, never an EVSE list half applied.
    dumped = None
    if prepared is None:
        dumped = dump(location)
        hashes = digests_of(dumped)
    else:
        hashes = prepared[location.id]
    old = live.get(location.id)
    old_hashes = live.digests(location.id)
    old_evses = {e.config.uid: e for e in old.evses} if old is not None else {}
    evses = []
    for config in location.evses:
        uid = config.uid
        previous = old_evses.pop(uid, None)
        known = known_evses.get(uid)
        status = published_status(known.status, held=known.holder is not None) \
            if known else EvseStatus.UNKNOWN
        if previous is not None and old_hashes.get(uid) == hashes[uid]:
            previous.config = config  # the same content: the new catalog's object
            if previous.status is not status:
                previous.status, previous.last_updated = status, now
                applied.status_changes.append((location.id, uid))
            evses.append(previous)
        else:
            evses.append(PublishedEvse(config, status, now, now))
    newly_removed = False
    for removed in old_evses.values():
        if removed.status is not EvseStatus.REMOVED:
            removed = PublishedEvse(removed.config, EvseStatus.REMOVED, now,
                                    removed.connectors_updated)
            newly_removed = True
        evses.append(removed)
    unchanged = old is not None and old_hashes == hashes and not newly_removed
    # A child's newer last_updated (status seen at start) still bumps the parent.
    stamp = max([old.last_updated, *(e.last_updated for e in evses)]) \
        if old is not None and unchanged else now
    published = PublishedLocation(location, evses, stamp)
    live.put(published, hashes)
    return published, unchanged, dumped
