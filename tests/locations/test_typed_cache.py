"""The publisher keeps one typed object per (location, version) and updates it on a status
change by copies: what it serves then must be exactly what a fresh build from the live state
gives, in both versions (an MCS-only EVSE absent from 2.2.1 included), and valid."""

from __future__ import annotations

import orjson
import pytest

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.catalog import LocationsCatalog, parse_locations
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.locations.test_versions import LOCATION, afir_location
from tests.openapi import validate_object

VERSIONS = ("2.2.1", "2.3.0")


def _fresh(publisher: LocationsPublisher, version: str) -> bytes:
    doc = publisher.location_doc(LOCATION)
    assert doc is not None
    return to_json(package(version).locations.location(doc))


async def _status(publisher: LocationsPublisher, connector: int, status: ConnectorStatus) -> None:
    await publisher.on_event(ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None,
                                                    connector_id=connector, status=status))
    await publisher.settle()


@pytest.mark.filterwarnings("error")  # a copy holding a str where the enum belongs warns
@pytest.mark.parametrize("version", VERSIONS)
async def test_kept_object_follows_status_changes(version: str) -> None:
    publisher = LocationsPublisher(
        LocationsCatalog(parse_locations({"locations": [afir_location()]})), MemoryAvailability())
    await publisher.start()
    try:
        before, _ = publisher.page(0, 10, None, None, version)  # builds and keeps the objects
        kept = publisher.location_object(LOCATION, version)
        for connector, status in ((1, ConnectorStatus.CHARGING), (3, ConnectorStatus.FAULTED),
                                  (1, ConnectorStatus.AVAILABLE)):
            await _status(publisher, connector, status)
            body, _ = publisher.page(0, 10, None, None, version)
            assert body == b"[" + _fresh(publisher, version) + b"]"
            assert body != before
            validate_object(version, "locations", "Location", orjson.loads(body)[0])
        assert publisher.location_object(LOCATION, version) is not kept
        evse = publisher.evse_object(LOCATION, "E1", version)
        assert evse is not None and evse.status == "AVAILABLE"  # type: ignore[attr-defined]
        if version == "2.2.1":
            assert publisher.evse_object(LOCATION, "E2", version) is None
        else:
            e2 = publisher.evse_object(LOCATION, "E2", version)
            assert e2 is not None and e2.status == "OUTOFORDER"  # type: ignore[attr-defined]
    finally:
        await publisher.stop()


async def test_reload_of_an_unchanged_file_keeps_the_objects() -> None:
    publisher = LocationsPublisher(
        LocationsCatalog(parse_locations({"locations": [afir_location()]})), MemoryAvailability())
    await publisher.start()
    try:
        kept = {v: publisher.location_object(LOCATION, v) for v in VERSIONS}
        await publisher._apply_catalog(publisher.catalog, push=False)
        assert all(publisher.location_object(LOCATION, v) is kept[v] for v in VERSIONS)
        await _status(publisher, 1, ConnectorStatus.CHARGING)
        assert all(publisher.location_object(LOCATION, v) is not kept[v] for v in VERSIONS)
    finally:
        await publisher.stop()
