"""What a start publishes is what it published before the start was made faster (issue 13):
the snapshots stored (published documents and configuration digests, byte for byte) and what
partners are queued, for a first start and for a restart over those snapshots after the file
changed (a location renamed, one gone, an EVSE replaced, a status moved while down).

``startup_golden.json`` holds those outputs as the code before that change wrote them;
``python -m tests.locations.test_startup_output`` writes it again (only for an intended change
of what is published: a changed digest makes every gateway PUT every location after an
upgrade)."""

from __future__ import annotations

import asyncio
import collections.abc
import json
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from ocpi_gateway.deliveries import DeliveryEngine
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations import config_apply
from ocpi_gateway.locations.catalog import LocationsCatalog, parse_locations
from ocpi_gateway.locations.models import EvseConfig, OperatorConnector, OperatorLocation
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver
from ocpi_gateway.locations.sample import sample_location
from ocpi_gateway.locations.snapshots import SNAPSHOTS
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.store import open_store
from tests.locations.test_versions import afir_location

GOLDEN = Path(__file__).with_name("startup_golden.json")
FIRST = "2026-01-01T00:00:00.000Z"
SECOND = "2026-01-02T00:00:00.000Z"
RECEIVERS = [Receiver("emsp", "https://emsp.example/ocpi/2.2.1/locations"),
             Receiver("hub", "https://hub.example/ocpi/2.3.0/locations", to_party=("DE", "ABC"),
                      version="2.3.0")]


def rich_location() -> dict[str, Any]:
    """Fields the sample leaves out, and lists left empty (which are not published)."""
    location = sample_location(7)
    location.update(facilities=[], directions=[{"language": "nl", "text": "Achter het station"}],
                    related_locations=[{"latitude": "52.150100", "longitude": "5.370100",
                                        "name": {"language": "nl", "text": "Ingang"}}],
                    images=[{"url": "https://charging.example.com/7.jpg", "category": "LOCATION",
                             "type": "jpeg", "width": 640}],
                    charging_when_closed=True)
    evse = location["evses"][0]
    evse.update(capabilities=[], parking_restrictions=[], floor_level="-1",
                coordinates={"latitude": "52.150200", "longitude": "5.370200"},
                directions=[{"language": "en", "text": "Level -1"}])
    evse["connectors"][0].update(tariff_ids=[], terms_and_conditions="https://example.com/t")
    return location


def first_file() -> list[dict[str, Any]]:
    return [*(sample_location(i) for i in range(5)), afir_location(), rich_location()]


def second_file() -> list[dict[str, Any]]:
    locations = first_file()
    locations[1]["name"] += " (renamed)"
    locations[2]["evses"][3]["uid"] = "LOC-00002-NEW"
    del locations[4]  # gone: its EVSEs are published REMOVED
    return locations


async def _outputs(store: DocumentStore, locations: list[dict[str, Any]],
                   availability: MemoryAvailability) -> dict[str, Any]:
    outbox = DeliveryEngine(store, _token)  # not started: what is queued stays in the store
    seen = {d["id"] for d in await store.find(COLLECTION)}

    async def receivers() -> list[Receiver]:
        return RECEIVERS

    publisher = LocationsPublisher(LocationsCatalog(parse_locations({"locations": locations})),
                                   availability, store=store, outbox=outbox,
                                   receivers=receivers)
    await publisher.start()
    await publisher.settle()
    await publisher.stop()
    snapshots = {d["id"]: orjson.dumps(d).decode() for d in await store.find(SNAPSHOTS)}
    queued = [{k: d.get(k) for k in ("partner_id", "method", "url", "body", "ordering_key",
                                     "coalesce", "resync", "extra")}
              for d in await store.find(COLLECTION, order_by="seq") if d["id"] not in seen]
    return {"snapshots": snapshots, "queued": queued}


async def _token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


async def outputs(directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    store = await open_store(f"sqlite:///{directory / 'gateway.db'}")
    availability = MemoryAvailability()
    try:
        monkeypatch.setattr(config_apply, "ocpi_timestamp", lambda at=None: FIRST)
        first = await _outputs(store, first_file(), availability)
        # While down: a charger's status moved, the rest stays as it was published.
        await availability.set_status("LOC-00003", "LOC-00003-2", EvseStatus.CHARGING,
                                      datetime(2026, 1, 1, 12, tzinfo=UTC))
        monkeypatch.setattr(config_apply, "ocpi_timestamp", lambda at=None: SECOND)
        restart = await _outputs(store, second_file(), availability)
    finally:
        await store.close()
    return {"first start": first, "restart": restart}


async def test_a_start_stores_and_queues_what_it_did_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = json.loads(GOLDEN.read_text())
    found = await outputs(tmp_path, monkeypatch)
    for run in ("first start", "restart"):
        assert found[run]["snapshots"] == golden[run]["snapshots"], run
        assert found[run]["queued"] == golden[run]["queued"], run
    # The scenario shows what it is meant to: REMOVED EVSEs, the PATCH of a status moved.
    assert '"status":"REMOVED"' in found["restart"]["snapshots"]["LOC-00004"]
    assert any(q["method"] == "PATCH" and q["url"].endswith("/LOC-00003/LOC-00003-2")
               for q in found["restart"]["queued"])
    # Lists left empty in the file are not published, at any level.
    rich = found["first start"]["snapshots"]["LOC-00007"]
    assert "[]" not in rich and '"facilities"' not in rich and '"directions"' in rich


def _list_items(annotation: Any) -> list[Any]:
    """The item types of every list within ``annotation``."""
    found = []
    if typing.get_origin(annotation) in (list, collections.abc.Sequence):
        found.extend(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        found.extend(_list_items(arg))
    return found


def test_no_published_list_mixes_objects_and_values() -> None:
    # What is published leaves empty lists out without walking a list whose first item is a
    # value (published.py): that holds while no list of the models holds a union.
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [OperatorLocation, EvseConfig]  # a removed EVSE's
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            for item in _list_items(info.annotation):
                assert typing.get_origin(item) not in (typing.Union, types.UnionType), \
                    f"{model.__name__}.{name}"
            for kind in _models_in(info.annotation):
                todo.append(kind)
    assert OperatorConnector in seen and len(seen) > 10


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def main() -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            found = asyncio.run(outputs(Path(tmp), monkeypatch))
    GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
