"""The publisher's read side, as the sender interface and the console see it: a published
Location, EVSE or Connector, in the internal model or in an OCPI version's form, and the
sender's pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.pages import Pages
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation, published_doc
from ocpi_gateway.ocpi import DEFAULT_VERSION, package


class PublishedReads:
    def __init__(self, live: LiveLocations) -> None:
        self._live = live
        self._pages = Pages(live)

    @property
    def pages(self) -> Pages:
        """The serialized pages; ``pages.generation`` moves on whenever any page may have
        changed."""
        return self._pages

    def location(self, location_id: str) -> PublishedLocation | None:
        """The published Location (any version's form derives from it); ids in any case."""
        return self._live.find(location_id)

    def published_doc(self, location_id: str) -> dict[str, Any] | None:
        """The same in its JSON form, as snapshots store it."""
        location = self._live.find(location_id)
        return published_doc(location) if location is not None else None

    def evse(self, location_id: str, evse_uid: str) -> PublishedEvse | None:
        location = self._live.find(location_id)
        return location.evse(evse_uid) if location is not None else None

    def location_object(self, location_id: str, version: str) -> BaseModel | None:
        location = self._live.find(location_id)
        return package(version).locations.location(location) if location is not None else None

    def evse_object(self, location_id: str, evse_uid: str, version: str) -> BaseModel | None:
        location = self._live.find(location_id)
        return package(version).locations.evse(location, evse_uid) if location else None

    def connector_object(
        self, location_id: str, evse_uid: str, connector_id: str, version: str
    ) -> BaseModel | None:
        location = self._live.find(location_id)
        if location is None:
            return None
        return package(version).locations.connector(location, evse_uid, connector_id)

    def page(
        self, offset: int, limit: int, date_from: str | None, date_to: str | None,
        version: str = DEFAULT_VERSION,
    ) -> tuple[bytes, int]:
        """Serialized JSON array of the page and the total matching count, oldest first.
        Pages are cached until the next change."""
        return self._pages.page(offset, limit, date_from, date_to, version)
