"""The sender's serialized Locations: one JSON form per (location, version in use), never one
per partner, and the pages built of them, cached until the next change. Only bytes are kept:
the typed objects of a version are built at the seam, serialized and dropped (kept, they cost
~270 MB at 10,000 locations in two versions; docs/decisions.md)."""

from __future__ import annotations

from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.ocpi import DEFAULT_VERSION, KNOWN_VERSIONS, package

PAGES_KEPT = 1024
"""Distinct page queries cached at most (each a window and a version); then all are dropped."""


class Pages:
    def __init__(self, live: LiveLocations) -> None:
        self._live = live
        self._serialized: dict[tuple[str, str], bytes] = {}
        self._pages: dict[tuple[int, int, str | None, str | None, str], tuple[bytes, int]] = {}
        self.generation = 0
        """Moves on with every change: what was made of an earlier generation's pages is
        stale, what was made of this one's is not."""

    def changed(self, location_id: str) -> None:
        """The location changed (its content or last_updated): serialize it again."""
        for version in KNOWN_VERSIONS:
            self._serialized.pop((location_id, version), None)
        self._pages.clear()
        self.generation += 1

    def clear(self) -> None:
        self._serialized.clear()
        self._pages.clear()
        self.generation += 1

    def location_json(self, location_id: str, version: str) -> bytes:
        key = (location_id, version)
        found = self._serialized.get(key)
        if found is None:
            live = self._live.get(location_id)
            assert live is not None  # ids come from the live order
            mapping = package(version).locations
            found = self._serialized[key] = mapping.json(mapping.location(live))
        return found

    def page(
        self, offset: int, limit: int, date_from: str | None, date_to: str | None,
        version: str = DEFAULT_VERSION,
    ) -> tuple[bytes, int]:
        """Serialized JSON array of the page and the total matching count, oldest first."""
        key = (offset, limit, date_from, date_to, version)
        cached = self._pages.get(key)
        if cached is not None:
            return cached
        ids, total = self._live.window(offset, limit, date_from, date_to)
        body = b"[" + b",".join(self.location_json(i, version) for i in ids) + b"]"
        if len(self._pages) >= PAGES_KEPT:
            self._pages.clear()
        self._pages[key] = (body, total)
        return body, total
