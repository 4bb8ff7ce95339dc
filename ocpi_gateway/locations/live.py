"""The live state of what is published: every Location (typed, ``published.py``) by id, and
their order by ``last_updated`` that pages and ``date_from``/``date_to`` read."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from ocpi_gateway.locations.published import PublishedLocation

Digests = dict[str, str]
"""A location's configuration digests: "" its own fields, each EVSE uid that EVSE's."""


class LiveLocations:
    def __init__(self) -> None:
        self._locations: dict[str, PublishedLocation] = {}
        self._digests: dict[str, Digests] = {}
        self._order: list[tuple[str, str]] = []  # (last_updated, id), sorted

    def __len__(self) -> int:
        return len(self._locations)

    def __iter__(self) -> Iterator[PublishedLocation]:
        return iter(list(self._locations.values()))

    def get(self, location_id: str) -> PublishedLocation | None:
        return self._locations.get(location_id)

    def find(self, location_id: str) -> PublishedLocation | None:
        """The location ``location_id`` in any case: ids are CiString(36) (mod_locations).
        Only a miss pays for the scan."""
        found = self._locations.get(location_id)
        if found is None:
            folded = location_id.casefold()
            found = next((loc for key, loc in self._locations.items()
                          if key.casefold() == folded), None)
        return found

    def digests(self, location_id: str) -> Digests:
        return self._digests.get(location_id, {})

    def put(self, location: PublishedLocation, digests: Digests) -> None:
        """Add or replace a location; ``reindex`` once all are put."""
        self._locations[location.id] = location
        self._digests[location.id] = digests

    def reindex(self) -> None:
        self._order = sorted((loc.last_updated, key) for key, loc in self._locations.items())

    def touch(self, location: PublishedLocation, stamp: str) -> None:
        """The location's ``last_updated`` becomes ``stamp`` (never earlier than it was)."""
        if stamp <= location.last_updated:
            return
        at = bisect_left(self._order, (location.last_updated, location.id))
        if at < len(self._order) and self._order[at] == (location.last_updated, location.id):
            del self._order[at]
        location.last_updated = stamp
        insort(self._order, (stamp, location.id))

    def window(self, offset: int, limit: int, date_from: str | None,
               date_to: str | None) -> tuple[list[str], int]:
        """Ids of the page and the total matching count, oldest first.

        Bounds compare OCPI timestamps as strings: all are UTC ``...Z`` with milliseconds, so
        lexical order is time order."""
        order = self._order
        start = bisect_left(order, (date_from, "")) if date_from else 0
        end = bisect_left(order, (date_to, "")) if date_to else len(order)
        end = max(start, end)
        chosen = order[start + offset: min(end, start + offset + limit)]
        return [location_id for _, location_id in chosen], end - start
