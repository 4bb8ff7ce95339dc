"""Publishing an operator catalog, at start and on a reload: its digests (reusing those
already published for the objects it kept), the live state it becomes (``config_apply.py``),
and the snapshots and pushes of what changed."""

from __future__ import annotations

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.config_apply import Prepared, Yielder, apply_catalog, digests
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.pages import Pages
from ocpi_gateway.locations.pushes import Pushes
from ocpi_gateway.locations.snapshots import Snapshots
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore


async def known_digests(live: LiveLocations, catalog: LocationsCatalog,
                        pause: Yielder) -> Prepared:
    """The new catalog's digests: those already published for the objects it kept."""
    prepared: Prepared = {}
    for location in catalog.locations():
        current = live.get(location.id)
        known = live.digests(location.id)
        prepared[location.id] = known if current is not None and current.config is location \
            and known else digests(location)
        await pause()
    return prepared


async def publish_catalog(live: LiveLocations, pages: Pages, snapshots: Snapshots,
                          pushes: Pushes, availability: AvailabilityStore,
                          catalog: LocationsCatalog, prepared: Prepared | None) -> list[str]:
    """Publish ``catalog`` (``prepared``: its digests, None to take them as it is applied);
    saves and pushes what changed, and returns the ids of the locations that did. Hands the
    loop back every few milliseconds."""
    pause = Yielder()
    saves = snapshots.batch()
    applied = await apply_catalog(live, catalog, prepared, availability, pause, saves.add)
    await saves.flush()
    pages.clear()
    # The partners are read once: per location, 10,000 reads of the registry (a partner
    # registering meanwhile is welcomed with every location all the same).
    targets = await pushes.targets()
    for location_id in applied.changed:
        await pause()
        location = live.get(location_id)
        assert location is not None
        await pushes.location(location, targets)
    for location_id, evse_uid in applied.status_changes:
        # Status moved while we were down (e.g. no longer known): tell the partners, who
        # still hold what we pushed before.
        location = live.get(location_id)
        evse = location.evse(evse_uid) if location is not None else None
        if location is not None and evse is not None and location_id not in applied.changed:
            await pushes.evse_status(location, evse, targets)
    return applied.changed
