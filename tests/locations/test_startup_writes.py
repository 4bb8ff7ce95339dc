"""How a start reads and writes the store (issue 13): the snapshots of what it published in a
few commits, those of the last run read a page at a time, the partners read once; and the
status snapshots of many sites, a few commits too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ocpi_gateway.deliveries import DeliveryEngine
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.store import DocumentStore, Put, Write
from ocpi_gateway.locations import snapshots
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver
from ocpi_gateway.locations.sample import sample_locations
from ocpi_gateway.locations.snapshots import SNAPSHOTS, Snapshots
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability

RECEIVERS = [Receiver("emsp", "https://emsp.example/ocpi/2.2.1/locations")]


class Recorded:
    """The store, recording the snapshots' writes and reads."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []
        self.puts = 0
        self.pages: list[int] = []

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        keys = [w.key for w in writes if isinstance(w, Put) and w.collection == SNAPSHOTS]
        if keys:
            self.batches.append(keys)
        return await self.inner.write_batch(writes)

    async def put(self, collection: str, key: str, doc: dict[str, Any]) -> None:
        self.puts += collection == SNAPSHOTS
        await self.inner.put(collection, key, doc)

    async def find(self, collection: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        found = await self.inner.find(collection, *args, **kwargs)
        if collection == SNAPSHOTS:
            self.pages.append(len(found))
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


async def start(store: Recorded, count: int) -> tuple[int, int]:
    """Start and stop a publisher of ``count`` sample locations; (partner reads, PUTs)."""
    reads = 0

    async def receivers() -> list[Receiver]:
        nonlocal reads
        reads += 1
        return RECEIVERS

    queued = await store.inner.count(COLLECTION)
    publisher = LocationsPublisher(
        LocationsCatalog(sample_locations(count)), MemoryAvailability(),
        store=store, outbox=DeliveryEngine(store.inner, _token),  # type: ignore[arg-type]
        receivers=receivers)
    await publisher.start()
    await publisher.stop()
    return reads, await store.inner.count(COLLECTION) - queued


async def test_a_first_start_writes_its_snapshots_a_batch_at_a_time(
    doc_store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "BATCH", 3)
    store = Recorded(doc_store)
    reads, puts = await start(store, 7)
    assert store.batches == [["LOC-00000", "LOC-00001", "LOC-00002"],
                             ["LOC-00003", "LOC-00004", "LOC-00005"], ["LOC-00006"]]
    assert store.puts == 0
    # Every location PUT to the partner, whose registration was read once for all of them
    # (and once more for the partners to welcome later).
    assert puts == 7 and reads == 2


async def test_a_restart_reads_the_snapshots_a_page_at_a_time(
    doc_store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Recorded(doc_store)
    await start(store, 5)
    monkeypatch.setattr(snapshots, "RESTORE_PAGE", 2)
    store.pages.clear()
    store.batches.clear()
    _, puts = await start(store, 5)
    assert store.pages == [2, 2, 1, 0]
    # Every snapshot was read back: nothing is new, nothing written or pushed again.
    assert puts == 0 and store.batches == []


async def test_status_snapshots_of_many_sites_are_written_a_batch_at_a_time(
    doc_store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Recorded(doc_store)
    live = LiveLocations()
    stamp = "2026-01-01T00:00:00.000Z"
    for location in sample_locations(5):
        live.put(PublishedLocation(location, [PublishedEvse(e, EvseStatus.AVAILABLE, stamp, stamp)
                                              for e in location.evses], stamp), {"": "x"})
    kept = Snapshots(live, store)  # type: ignore[arg-type]
    monkeypatch.setattr(snapshots, "BATCH", 2)
    for location_id in ("LOC-00004", "LOC-00001", "LOC-00003", "GONE"):
        kept.mark(location_id)
    await kept.flush()
    assert store.batches == [["LOC-00001", "LOC-00003"], ["LOC-00004"]] and store.puts == 0
    stored = await doc_store.get(SNAPSHOTS, "LOC-00003")
    assert stored is not None and stored["hashes"] == {"": "x"}
    assert stored["doc"]["evses"][0]["status"] == "AVAILABLE"
    assert not kept.pending
