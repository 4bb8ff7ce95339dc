"""A reload is applied a location at a time, handing the loop back in between: a GET during it
sees each location as the old file or the new one said, never an EVSE list half applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from ocpi_gateway.locations import catalog_publish, config_apply
from ocpi_gateway.locations import publisher as publisher_module
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.handlers import PUBLISHER_KEY, LocationsSender
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.locations.sample import sample_location
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.openapi import validate_gateway_response

COUNT = 8


def old_items() -> list[dict[str, Any]]:
    return [sample_location(i) for i in range(COUNT)]


def new_items() -> list[dict[str, Any]]:
    """Every EVSE's physical reference changed, and a fifth EVSE on each location."""
    items = old_items()
    for i, item in enumerate(items):
        for evse in item["evses"]:
            evse["physical_reference"] += "N"
        fifth = {**item["evses"][0], "uid": f"LOC-{i:05d}-5", "evse_id": f"NL*EXA*E{i:05d}*5",
                 "ocpp_evse_id": 5, "physical_reference": "P5N"}
        item["evses"].append(fifth)
    return items


def evse_list(items: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    return {item["id"]: [(e["uid"], e["physical_reference"]) for e in item["evses"]]
            for item in items}


@pytest.fixture
async def gateway(tmp_path: Path, aiohttp_client: Any
                  ) -> AsyncIterator[tuple[LocationsPublisher, TestClient[Any, Any], Path]]:
    path = tmp_path / "locations.yaml"
    path.write_text(yaml.safe_dump({"locations": old_items()}))
    publisher = LocationsPublisher(LocationsCatalog.from_file(path), MemoryAvailability())
    await publisher.start()
    app = web.Application()
    app[PUBLISHER_KEY] = publisher
    app.add_routes(LocationsSender(publisher, max_limit=COUNT).routes())
    yield publisher, await aiohttp_client(app), path
    await publisher.stop()


async def test_a_get_during_a_reload_sees_each_location_old_or_new(
    gateway: tuple[LocationsPublisher, TestClient[Any, Any], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, client, path = gateway
    old, new = evse_list(old_items()), evse_list(new_items())
    seen: list[dict[str, str]] = []  # per round of GETs: location id -> "old" / "new"
    first_round = asyncio.Event()
    gets = asyncio.Condition()
    done = 0

    class EveryLocationOneGet(config_apply.Yielder):
        """The reload hands the loop back at every location and goes on once the reader has
        answered one more GET: reads land between the reload's locations by construction,
        not by how fast this machine runs."""

        async def __call__(self) -> None:
            async with gets:
                target = done + 1
                await asyncio.wait_for(gets.wait_for(lambda: done >= target), 30)

    for module in (publisher_module, catalog_publish):
        monkeypatch.setattr(module, "Yielder", EveryLocationOneGet)

    async def read(url: str) -> Any:
        nonlocal done
        resp = await client.get(url)
        body = await resp.json()
        validate_gateway_response("GET", resp.url.path, body, http_status=resp.status)
        async with gets:
            done += 1
            gets.notify_all()
        return body["data"]

    def which(location: dict[str, Any]) -> str:
        evses = [(e["uid"], e["physical_reference"]) for e in location["evses"]]
        if evses == old[location["id"]]:
            return "old"
        assert evses == new[location["id"]], f"half applied: {location['id']} {evses}"
        return "new"

    async def reader() -> None:
        while True:
            round_ = {}
            # Against the reload's order: the round read while it applies starts with a
            # location it applies last (old) and ends with one it applied first (new).
            for i in reversed(range(COUNT)):
                location = await read(f"/ocpi/2.2.1/locations/LOC-{i:05d}")
                round_[location["id"]] = which(location)
            for location in await read(f"/ocpi/2.2.1/locations?limit={COUNT}"):
                which(location)
            seen.append(round_)
            first_round.set()

    path.write_text(yaml.safe_dump({"locations": new_items()}))
    task = asyncio.ensure_future(reader())
    await first_round.wait()  # before the reload: all old
    changed = await publisher.reload()
    task.cancel()
    [ended] = await asyncio.gather(task, return_exceptions=True)
    if isinstance(ended, AssertionError):
        raise ended
    assert sorted(changed) == sorted(old)
    assert set(seen[0].values()) == {"old"}
    # The reads did land between two locations of the reload, not only before or after it.
    assert any(set(r.values()) == {"old", "new"} for r in seen)
    final = await read(f"/ocpi/2.2.1/locations?limit={COUNT}")
    assert {which(location) for location in final} == {"new"}
