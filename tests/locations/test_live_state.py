"""The typed live state of what is published: it refers to the catalog's objects (no copy of
the operator's data per location), what it serializes is the same in both ways the seam
builds it, and snapshots bring back what the file no longer holds."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog, parse_locations
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.models import EvseConfig, OperatorEvse, OperatorLocation
from ocpi_gateway.locations.published import (
    PublishedEvse,
    PublishedLocation,
    from_doc,
    published_doc,
)
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.locations.snapshots import SNAPSHOTS
from ocpi_gateway.ocpi import KNOWN_VERSIONS, package
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.locations.conftest import EXAMPLE
from tests.locations.test_versions import afir_location

STAMP = "2026-01-01T00:00:00.000Z"


def _example() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return raw


def _published(location: OperatorLocation, status: EvseStatus) -> PublishedLocation:
    return PublishedLocation(location, [PublishedEvse(e, status, STAMP, STAMP)
                                        for e in location.evses], STAMP)


def _catalogs() -> list[LocationsCatalog]:
    return [LocationsCatalog.from_file(EXAMPLE),
            LocationsCatalog(parse_locations({"locations": [afir_location()]}))]


async def test_the_live_state_holds_the_catalogs_objects_and_a_reload_swaps_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locations.yaml"
    raw = _example()
    path.write_text(yaml.safe_dump(raw))
    catalog = LocationsCatalog.from_file(path)
    publisher = LocationsPublisher(catalog, MemoryAvailability())
    await publisher.start()
    for location in catalog.locations():
        live = publisher.location(location.id)
        assert live is not None and live.config is location
        assert [e.config for e in live.evses] == location.evses
        assert all(e.config is c for e, c in zip(live.evses, location.evses, strict=True))
    raw["locations"][0]["name"] = "Renamed"
    path.write_text(yaml.safe_dump(raw))
    changed = await publisher.reload()
    renamed = raw["locations"][0]["id"]
    assert changed == [renamed]
    # Unchanged locations too refer to the new catalog's objects: the old one can be freed.
    for location in publisher.catalog.locations():
        live = publisher.location(location.id)
        assert live is not None and live.config is location
        assert all(e.config is c for e, c in zip(live.evses, location.evses, strict=True))
    assert publisher.catalog is not catalog
    await publisher.stop()


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
def test_pages_and_single_objects_serialize_alike(version: str) -> None:
    """Pages serialize leaving out None only (the cheap form); single objects and pushes
    leave out what was not set too: both must be the same JSON, with no empty list."""
    mapping = package(version).locations
    for catalog in _catalogs():
        for location in catalog.locations():
            built = mapping.location(_published(location, EvseStatus.AVAILABLE))
            assert mapping.json(built) == to_json(built)
            assert b"[]" not in mapping.json(built)


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
def test_what_is_built_passes_the_versions_own_validation(version: str) -> None:
    """Built from values the internal model validated; the version's own rules (2.2.1's
    closed enums) hold too: nothing a version cannot hold gets through."""
    mapping = package(version).locations
    for catalog in _catalogs():
        for location in catalog.locations():
            built = mapping.location(_published(location, EvseStatus.CHARGING))
            again = type(built).model_validate(orjson.loads(mapping.json(built)))
            assert mapping.json(again) == mapping.json(built)


def test_2_2_1_leaves_out_what_it_cannot_hold() -> None:
    [location] = parse_locations({"locations": [afir_location()]})
    live = _published(location, EvseStatus.AVAILABLE)
    body = orjson.loads(package("2.2.1").locations.json(package("2.2.1").locations.location(live)))
    [evse] = body["evses"]  # E2 has only an MCS connector
    assert [c["standard"] for c in evse["connectors"]] == ["IEC_62196_T2_COMBO", "TESLA_S"]
    assert evse["parking_restrictions"] == ["EV_ONLY"]
    assert not {"parking", "accepted_service_providers"} & set(evse)
    assert not {"help_phone", "parking_places"} & set(body)
    assert package("2.2.1").locations.evse(live, "E2") is None
    assert package("2.2.1").locations.connector(live, "e1", "2") is not None
    whole = orjson.loads(package("2.3.0").locations.json(package("2.3.0").locations.location(live)))
    assert [e["uid"] for e in whole["evses"]] == ["E1", "E2"]
    assert whole["evses"][0]["parking_restrictions"] == ["EV_ONLY", "TAXIS"]


def test_a_snapshot_round_trips_and_uses_the_catalogs_objects_where_it_can() -> None:
    [location] = parse_locations({"locations": [afir_location()]})
    gone = EvseConfig.model_validate({"uid": "OLD", "connectors": [{
        "id": "1", "standard": "CHADEMO", "format": "CABLE", "power_type": "DC",
        "max_voltage": 500, "max_amperage": 125}]})
    live = PublishedLocation(location, [
        PublishedEvse(location.evses[0], EvseStatus.CHARGING, "2026-01-02T00:00:00.000Z", STAMP),
        PublishedEvse(location.evses[1], EvseStatus.AVAILABLE, STAMP, STAMP),
        PublishedEvse(gone, EvseStatus.REMOVED, STAMP, STAMP)], "2026-01-02T00:00:00.000Z")
    doc = published_doc(live)
    assert "charge_point_id" not in orjson.dumps(doc).decode()  # no gateway-only field
    assert published_doc(from_doc(copy.deepcopy(doc))) == doc  # the file no longer has any
    restored = from_doc(copy.deepcopy(doc), location)
    assert restored.config is location
    assert restored.evses[0].config is location.evses[0]
    assert isinstance(restored.evses[0].config, OperatorEvse)
    assert restored.evses[2].config == gone and not isinstance(restored.evses[2].config,
                                                                OperatorEvse)
    assert [(e.status, e.last_updated) for e in restored.evses] == [
        (e.status, e.last_updated) for e in live.evses]
    assert published_doc(restored) == doc


def test_touching_a_location_moves_it_in_the_order_and_never_back() -> None:
    [first, second] = LocationsCatalog.from_file(EXAMPLE).locations()
    live = LiveLocations()
    a = PublishedLocation(first, [], "2026-01-01T00:00:00.000Z")
    b = PublishedLocation(second, [], "2026-01-02T00:00:00.000Z")
    live.put(a, {})
    live.put(b, {})
    live.reindex()
    assert live.window(0, 10, None, None) == ([first.id, second.id], 2)
    live.touch(a, "2026-01-03T00:00:00.000Z")
    assert live.window(0, 10, None, None) == ([second.id, first.id], 2)
    assert live.window(0, 10, "2026-01-03T00:00:00.000Z", None) == ([first.id], 1)
    live.touch(a, "2026-01-01T12:00:00.000Z")  # older: ignored
    assert a.last_updated == "2026-01-03T00:00:00.000Z"
    assert live.window(0, 10, None, "2026-01-03T00:00:00.000Z") == ([second.id], 1)
    assert live.find(first.id.lower()) is a and live.find("nope") is None


async def test_a_status_change_serializes_only_its_location_again() -> None:
    catalog = LocationsCatalog.from_file(EXAMPLE)
    availability = MemoryAvailability()
    publisher = LocationsPublisher(catalog, availability)
    await publisher.start()
    [first, second] = catalog.locations()
    before = {v: (publisher._pages.location_json(first.id, v),
                  publisher._pages.location_json(second.id, v)) for v in KNOWN_VERSIONS}
    evse = first.evses[0].uid
    await availability.set_status(first.id, evse, EvseStatus.CHARGING, datetime.now(UTC))
    publisher.hold_changed(first.id, evse)  # "republish its status"
    await publisher.settle()
    for version, (one, two) in before.items():
        assert publisher._pages.location_json(second.id, version) is two
        again = publisher._pages.location_json(first.id, version)
        assert again != one and b'"CHARGING"' in again
    await publisher.stop()


async def test_a_restart_publishes_what_the_file_no_longer_holds(
    tmp_path: Path, doc_store: DocumentStore,
) -> None:
    path = tmp_path / "locations.yaml"
    raw = _example()
    path.write_text(yaml.safe_dump(raw))
    publisher = LocationsPublisher(LocationsCatalog.from_file(path), MemoryAvailability(),
                                   store=doc_store)
    await publisher.start()
    await publisher.stop()
    kept, dropped = raw["locations"][0], raw["locations"][1]
    gone_evse = kept["evses"].pop()["uid"]
    raw["locations"] = [kept]
    path.write_text(yaml.safe_dump(raw))
    # A new process, the file changed meanwhile: one EVSE and one location taken out.
    again = LocationsPublisher(LocationsCatalog.from_file(path), MemoryAvailability(),
                               store=doc_store)
    await again.start()
    removed = again.evse(kept["id"], gone_evse)
    assert removed is not None and removed.status is EvseStatus.REMOVED
    location = again.location(dropped["id"])
    assert location is not None and {e.status for e in location.evses} == {EvseStatus.REMOVED}
    body, total = again.page(0, 10, None, None, "2.3.0")
    assert total == 2 and dropped["id"].encode() in body
    await again.stop()
    # And once more: nothing changed, the snapshot alone still holds them.
    third = LocationsPublisher(LocationsCatalog.from_file(path), MemoryAvailability(),
                               store=doc_store)
    await third.start()
    location = third.location(dropped["id"])
    assert location is not None and location.last_updated == again.location(
        dropped["id"]).last_updated  # type: ignore[union-attr]
    await third.stop()


async def test_an_unreadable_snapshot_is_published_again_as_new(
    doc_store: DocumentStore,
) -> None:
    catalog = LocationsCatalog.from_file(EXAMPLE)
    first = catalog.locations()[0]
    await doc_store.put(SNAPSHOTS, first.id, {"id": first.id, "hashes": {},
                                               "doc": {"id": first.id, "evses": "garbled"}})
    publisher = LocationsPublisher(catalog, MemoryAvailability(), store=doc_store)
    await publisher.start()
    live = publisher.location(first.id)
    assert live is not None and live.config is first
    saved = await doc_store.get(SNAPSHOTS, first.id)
    assert saved is not None and saved["doc"]["evses"] != "garbled"
    await publisher.stop()
