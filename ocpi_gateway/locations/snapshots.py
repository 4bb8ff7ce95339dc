"""What partners were told, kept in the store (collection ``locations_published``, one
document per location: the published Location in the internal model's JSON form and its
configuration digests), so that a restart corrects a status lost meanwhile and publishes the
EVSEs and locations gone from the file since. Written when the publisher's queue runs dry, at
most every SNAPSHOT_INTERVAL: a burst of changes costs one write per location."""

from __future__ import annotations

import asyncio
import time

import structlog

from ocpi_gateway.domain.store import Document, DocumentStore, Put
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.published import (
    ConfigDocs,
    Dumped,
    PublishedLocation,
    from_doc,
    published_doc,
)

log = structlog.get_logger(__name__)

SNAPSHOTS = "locations_published"
SNAPSHOT_INTERVAL = 2.0
"""Status snapshots are written at most this often: a restart corrects what partners were told
(it is not on the path of a push), and the store's writes stay few under bursts."""

KEEP_CONFIG_FROM = 100
"""EVSEs from which a location's EVSE configurations are kept in their JSON form between two
snapshots: dumping 1,000 EVSEs again for every status write took a tenth of the CPU of
RESERVE_NOW at such a location (issue 13). Smaller ones are dumped each time, so that a big
catalog of small locations does not hold a second copy of every EVSE."""

BATCH = 100
"""Snapshots written in one commit when a catalog is published: 10,000 commits of one each
took a third of a start's CPU. A commit of 100 takes ~3 ms of the loop (SQLite; 500: 17 ms,
too long a hold during a reload) and bounds the documents held at once."""

RESTORE_PAGE = 1_000
"""Snapshots read at once by a restart: all 10,000 at once held ~100 MB of documents."""


class Snapshots:
    def __init__(self, live: LiveLocations, store: DocumentStore | None = None) -> None:
        self._live = live
        self.store = store
        self._dirty: set[str] = set()
        self._flushed_at = 0.0
        self._config_docs: dict[str, ConfigDocs] = {}

    @property
    def pending(self) -> bool:
        return bool(self._dirty)

    @property
    def due(self) -> bool:
        return bool(self._dirty) and time.monotonic() - self._flushed_at >= SNAPSHOT_INTERVAL

    def mark(self, location_id: str) -> None:
        self._dirty.add(location_id)

    async def restore(self, catalog: LocationsCatalog) -> None:
        """Put what was published before into the live state, with the objects of ``catalog``
        where it still has them."""
        if self.store is None:
            return
        offset = 0
        while page := await self.store.find(SNAPSHOTS, limit=RESTORE_PAGE, offset=offset):
            offset += len(page)
            self._restore(page, catalog)
            del page

    def _restore(self, snapshots: list[Document], catalog: LocationsCatalog) -> None:
        for snapshot in snapshots:
            try:
                restored = from_doc(snapshot["doc"], catalog.get(snapshot["id"]))
            except Exception:
                # Whatever is wrong with it (an older shape, a hand edit), the location is
                # published again as new: a snapshot only spares partners a PUT.
                log.warning("locations_snapshot_unreadable", location_id=snapshot.get("id"),
                            exc_info=True)
                continue
            self._live.put(restored, snapshot["hashes"])

    def document(self, location: PublishedLocation, dumped: Dumped | None = None) -> Document:
        config_docs = None
        if len(location.evses) >= KEEP_CONFIG_FROM:
            config_docs = self._config_docs.setdefault(location.id, {})
        else:
            self._config_docs.pop(location.id, None)
        return {"id": location.id, "doc": published_doc(location, config_docs, dumped),
                "hashes": self._live.digests(location.id)}

    def batch(self) -> SnapshotBatch:
        return SnapshotBatch(self)

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._flushed_at = time.monotonic()
        if self.store is None:
            return
        # A burst of status changes at many sites is a few commits, not one per site.
        marked = [location for location_id in sorted(dirty)
                  if (location := self._live.get(location_id)) is not None]
        for start in range(0, len(marked), BATCH):
            batch = marked[start:start + BATCH]
            try:
                await self.store.write_batch([Put(SNAPSHOTS, location.id,
                                                  self.document(location))
                                              for location in batch])
            except asyncio.CancelledError:
                raise
            except Exception:
                # Only the correction after a restart depends on it; keep serving.
                log.exception("locations_snapshot_failed",
                              location_ids=[location.id for location in batch])


class SnapshotBatch:
    """Snapshots of the locations a catalog changed, taken as each is published and written
    BATCH at a time (one commit each); ``flush`` writes the rest."""

    def __init__(self, snapshots: Snapshots) -> None:
        self._snapshots = snapshots
        self._writes: list[Put] = []

    async def add(self, location: PublishedLocation, dumped: Dumped | None = None) -> None:
        if self._snapshots.store is None:
            return
        self._writes.append(Put(SNAPSHOTS, location.id,
                                self._snapshots.document(location, dumped)))
        if len(self._writes) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        writes, self._writes = self._writes, []
        if writes and self._snapshots.store is not None:
            await self._snapshots.store.write_batch(writes)
