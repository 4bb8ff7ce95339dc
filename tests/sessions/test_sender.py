"""GET {sessions}: paginated (offset, limit, Link to the next page keeping the dates), filtered
on last_updated (date_from included, date_to excluded), bad parameters answered 2001; bodies
valid against the official OpenAPI (the peer's client checks every answer)."""

from __future__ import annotations

from typing import Any

from tests.commands.support import World, eventually, token
from tests.sessions.support import Rig, event201, start16


async def get(world: World, query: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    url = f"{world.gateway.url}/ocpi/{world.emsp.ocpi_version}/sessions{query}"
    status, body, headers = await world.emsp.call("GET", url)
    assert status in (200, 400), body
    return dict(body), headers


async def three_sessions(rig: Rig) -> list[str]:
    """Sessions on E1, E2 and E3, each ten minutes after the other; their last_updated."""
    world, clock = rig.world, rig.clock
    await world.all_available()
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0001", json=token())
    assert body["status_code"] == 1000
    stamps = []
    for connector in (1, 2):
        await start16(world, clock, connector=connector)
        stamps.append(clock.z())
        clock.advance(minutes=10)
    await event201(world, clock, "Started", "TX-3", seq_no=0, kwh=0.0)
    stamps.append(clock.z())
    assert await eventually(lambda: len(world.emsp.sessions) == 3)
    return stamps


async def test_pages_link_to_the_next_one(rig: Rig) -> None:
    world = rig.world
    stamps = await three_sessions(rig)
    first, headers = await get(world, "?limit=2")
    assert headers["X-Total-Count"] == "3" and headers["X-Limit"] == "100"
    assert [s["last_updated"] for s in first["data"]] == stamps[:2]
    link = headers["Link"]
    assert link.startswith(f"<{world.gateway.url}/ocpi/") and 'rel="next"' in link
    _, body, headers = await world.emsp.call("GET", link[1:link.index(">")])
    assert [s["last_updated"] for s in body["data"]] == stamps[2:]
    assert "Link" not in headers


async def test_dates_select_by_last_updated(rig: Rig) -> None:
    world = rig.world
    stamps = await three_sessions(rig)
    body, headers = await get(world, f"?date_from={stamps[1]}&date_to={stamps[2]}")
    assert [s["last_updated"] for s in body["data"]] == [stamps[1]]
    assert headers["X-Total-Count"] == "1"
    body, _ = await get(world, f"?date_from={stamps[2]}&limit=1&offset=0")
    assert [s["last_updated"] for s in body["data"]] == [stamps[2]]


async def test_bad_parameters_are_2001(rig: Rig) -> None:
    for query in ("?limit=-1", "?offset=x", "?date_from=yesterday"):
        body, _ = await get(rig.world, query)
        assert body["status_code"] == 2001, (query, body)
