"""Sender GET interface over a real aiohttp server: pagination, filters, single objects."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.handlers import PUBLISHER_KEY, LocationsSender
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.locations.sample import sample_locations
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.openapi import validate_gateway_response

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # later than "now": events set last_updated
COUNT = 25
CAP = 10


def stamp(i: int) -> str:
    return (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
async def client(aiohttp_client: Any) -> AsyncIterator[TestClient[Any, Any]]:
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(COUNT)), MemoryAvailability())
    await publisher.start()
    order = list(range(COUNT))
    random.Random(4).shuffle(order)
    # Location i gets last_updated T0 + i minutes, fed in shuffled order.
    for i in order:
        await publisher.on_event(ConnectorStatusChanged(
            charge_point_id=f"CP-{i:05d}", evse_id=1, connector_id=1,
            status=ConnectorStatus.AVAILABLE, timestamp=T0 + timedelta(minutes=i)))
    await publisher.settle()
    app = web.Application()
    app[PUBLISHER_KEY] = publisher
    app.add_routes(LocationsSender(publisher, max_limit=CAP,
                                   public_url="https://cpo.example.com").routes())
    yield await aiohttp_client(app)
    await publisher.stop()


async def get(client: TestClient[Any, Any], url: str) -> tuple[Any, Any, dict[str, Any]]:
    resp = await client.get(url)
    body = await resp.json()
    validate_gateway_response("GET", resp.url.path, body, http_status=resp.status)
    return resp, resp.headers, body


async def test_first_page_oldest_first_with_headers(client: TestClient[Any, Any]) -> None:
    resp, headers, body = await get(client, "/ocpi/2.2.1/locations?limit=5")
    assert resp.status == 200 and body["status_code"] == 1000
    assert [loc["id"] for loc in body["data"]] == [f"LOC-{i:05d}" for i in range(5)]
    assert headers["X-Total-Count"] == str(COUNT)
    assert headers["X-Limit"] == str(CAP)
    assert headers["Link"] == (
        '<https://cpo.example.com/ocpi/2.2.1/locations?offset=5&limit=5>; rel="next"')
    evse = body["data"][0]["evses"][0]
    assert evse["status"] == "AVAILABLE" and "charge_point_id" not in evse
    assert "ocpp_connector_id" not in evse["connectors"][0]
    assert body["data"][0]["last_updated"] == stamp(0)


async def test_limit_above_cap_is_capped(client: TestClient[Any, Any]) -> None:
    _, headers, body = await get(client, "/ocpi/2.2.1/locations?limit=1000")
    assert len(body["data"]) == CAP
    assert headers["X-Limit"] == str(CAP)
    assert "offset=10&limit=10" in headers["Link"]


async def test_default_limit_is_cap_and_walk_all_pages(client: TestClient[Any, Any]) -> None:
    url: str | None = "/ocpi/2.2.1/locations"
    seen: list[str] = []
    while url:
        _, headers, body = await get(client, url)
        seen += [loc["id"] for loc in body["data"]]
        link = headers.get("Link")
        url = link[1:link.index(">")].replace("https://cpo.example.com", "") if link else None
    assert seen == [f"LOC-{i:05d}" for i in range(COUNT)]


async def test_offset_past_the_end(client: TestClient[Any, Any]) -> None:
    resp, headers, body = await get(client, "/ocpi/2.2.1/locations?offset=100&limit=5")
    assert resp.status == 200 and body["data"] == []
    assert headers["X-Total-Count"] == str(COUNT)
    assert "Link" not in headers


async def test_last_page_has_no_link(client: TestClient[Any, Any]) -> None:
    _, headers, body = await get(client, "/ocpi/2.2.1/locations?offset=20&limit=5")
    assert len(body["data"]) == 5 and "Link" not in headers


async def test_date_filters_inclusive_from_exclusive_to(client: TestClient[Any, Any]) -> None:
    url = f"/ocpi/2.2.1/locations?date_from={stamp(3)}&date_to={stamp(9)}&limit=4"
    _, headers, body = await get(client, url)
    assert [loc["id"] for loc in body["data"]] == [f"LOC-{i:05d}" for i in range(3, 7)]
    assert headers["X-Total-Count"] == "6"
    link = headers["Link"]
    assert f"date_from={stamp(3)}".replace(":", "%3A") in link or f"date_from={stamp(3)}" in link
    assert "date_to=" in link and "offset=4&limit=4" in link
    next_url = link[1:link.index(">")].replace("https://cpo.example.com", "")
    _, headers2, body2 = await get(client, next_url)
    assert [loc["id"] for loc in body2["data"]] == ["LOC-00007", "LOC-00008"]
    assert "Link" not in headers2


async def test_date_without_zone_and_without_fraction(client: TestClient[Any, Any]) -> None:
    _, headers, _ = await get(client, "/ocpi/2.2.1/locations?date_from=2030-01-01T12:20:00")
    assert headers["X-Total-Count"] == "5"


@pytest.mark.parametrize("query", ["offset=-1", "limit=abc", "date_from=yesterday",
                                   "date_to=2030-13-01T00:00:00Z",
                                   # in range as written, out of range once moved to UTC
                                   "date_from=0001-01-01T00:00:00%2B01:00",
                                   "date_to=9999-12-31T23:59:59-01:00"])
async def test_bad_parameters_are_2001(client: TestClient[Any, Any], query: str) -> None:
    resp, _, body = await get(client, f"/ocpi/2.2.1/locations?{query}")
    assert resp.status == 200 and body["status_code"] == 2001


async def test_single_objects(client: TestClient[Any, Any]) -> None:
    _, _, loc = await get(client, "/ocpi/2.2.1/locations/LOC-00003")
    assert loc["data"]["id"] == "LOC-00003" and len(loc["data"]["evses"]) == 4
    _, _, evse = await get(client, "/ocpi/2.2.1/locations/LOC-00003/LOC-00003-1")
    assert evse["data"]["uid"] == "LOC-00003-1" and evse["data"]["status"] == "AVAILABLE"
    _, _, conn = await get(client, "/ocpi/2.2.1/locations/LOC-00003/LOC-00003-1/1")
    assert conn["data"]["standard"] == "IEC_62196_T2"


async def test_single_object_ids_are_case_insensitive(client: TestClient[Any, Any]) -> None:
    # mod_locations: location_id, evse_uid and connector_id are CiString(36).
    _, _, loc = await get(client, "/ocpi/2.2.1/locations/loc-00003")
    assert loc["status_code"] == 1000 and loc["data"]["id"] == "LOC-00003"
    _, _, evse = await get(client, "/ocpi/2.2.1/locations/loc-00003/loc-00003-1")
    assert evse["status_code"] == 1000 and evse["data"]["uid"] == "LOC-00003-1"
    _, _, conn = await get(client, "/ocpi/2.2.1/locations/Loc-00003/loc-00003-1/1")
    assert conn["status_code"] == 1000 and conn["data"]["id"] == "1"


@pytest.mark.parametrize("path", ["NOPE", "LOC-00003/NOPE", "LOC-00003/LOC-00003-1/9"])
async def test_unknown_objects_are_404_2003(client: TestClient[Any, Any], path: str) -> None:
    resp, _, body = await get(client, f"/ocpi/2.2.1/locations/{path}")
    assert resp.status == 404 and body["status_code"] == 2003


async def test_child_change_bumps_parents(client: TestClient[Any, Any]) -> None:
    _, _, before = await get(client, "/ocpi/2.2.1/locations/LOC-00001")
    publisher = client.app[PUBLISHER_KEY]
    later = T0 + timedelta(hours=5)
    await publisher.on_event(ConnectorStatusChanged(
        charge_point_id="CP-00001", evse_id=2, connector_id=1,
        status=ConnectorStatus.CHARGING, timestamp=later))
    await publisher.settle()
    _, _, after = await get(client, "/ocpi/2.2.1/locations/LOC-00001")
    evse = next(e for e in after["data"]["evses"] if e["uid"] == "LOC-00001-2")
    assert evse["status"] == "CHARGING"
    assert evse["last_updated"] == after["data"]["last_updated"] > before["data"]["last_updated"]
    # now the newest: last in the list
    _, _, page = await get(client, "/ocpi/2.2.1/locations?offset=24&limit=1")
    assert page["data"][0]["id"] == "LOC-00001"


async def test_a_list_reply_is_reused_within_its_second_and_never_after_a_change(
    aiohttp_client: Any,
) -> None:
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(COUNT)), MemoryAvailability())
    await publisher.start()
    await publisher.settle()
    now = [1_900_000_000.25]  # 2030-03-17T17:46:40Z
    app = web.Application()
    app.add_routes(LocationsSender(publisher, max_limit=CAP, clock=lambda: now[0]).routes())
    client = await aiohttp_client(app)
    try:
        async def page(host: str = "cpo.example.com") -> tuple[bytes, dict[str, Any]]:
            resp = await client.get("/ocpi/2.2.1/locations?limit=2", headers={"Host": host})
            raw = await resp.read()
            validate_gateway_response("GET", resp.url.path, await resp.json(),
                                      http_status=resp.status)
            return raw, dict(resp.headers)

        first, headers = await page()
        assert b'"timestamp":"2030-03-17T17:46:40Z"' in first
        assert headers["Link"] == (
            '<http://cpo.example.com/ocpi/2.2.1/locations?offset=2&limit=2>; rel="next"')
        now[0] += 0.7  # the same second: the same reply
        assert (await page())[0] == first
        # A Host of its own gets its own Link, never another client's.
        _, other = await page("other.example.com")
        assert other["Link"].startswith("<http://other.example.com/")
        assert (await page())[1]["Link"] == headers["Link"]
        # A change within the same second (LOC-00000, now the newest, leaves the first page):
        # the new content at once.
        await publisher.on_event(ConnectorStatusChanged(
            charge_point_id="CP-00000", evse_id=1, connector_id=1,
            status=ConnectorStatus.CHARGING, timestamp=T0))
        await publisher.settle()
        changed, _ = await page()
        assert b'"id":"LOC-00000"' in first and b'"id":"LOC-00000"' not in changed
        assert publisher.page(0, 2, None, None)[0] in changed
        assert b'"timestamp":"2030-03-17T17:46:40Z"' in changed
        now[0] += 1  # the next second: the same page under a new timestamp
        later, _ = await page()
        assert b'"timestamp":"2030-03-17T17:46:41Z"' in later
        assert later.replace(b"17:46:41Z", b"17:46:40Z") == changed
    finally:
        await publisher.stop()


async def test_list_replies_are_kept_per_request_target_and_each_is_its_own_page(
    aiohttp_client: Any,
) -> None:
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(COUNT)), MemoryAvailability())
    await publisher.start()
    await publisher.settle()
    app = web.Application()
    # One second throughout: whatever is reused is reused by request target alone.
    app.add_routes(LocationsSender(publisher, max_limit=CAP, clock=lambda: 1_900_000_000.0)
                   .routes())
    client = await aiohttp_client(app)
    try:
        async def page(target: str) -> tuple[int, list[str], dict[str, Any]]:
            resp = await client.get(target)
            body = await resp.json()
            validate_gateway_response("GET", resp.url.path, body, http_status=resp.status)
            return body["status_code"], [loc["id"] for loc in body.get("data") or []], dict(
                resp.headers)

        def ids(first: int, count: int) -> list[str]:
            return [f"LOC-{i:05d}" for i in range(first, first + count)]

        base = "/ocpi/2.2.1/locations"
        for _ in range(2):  # built, then reused: the same answers
            status, first, headers = await page(base + "?limit=2")
            assert status == 1000 and first == ids(0, 2)
            assert headers["Link"].endswith(f'{base}?offset=2&limit=2>; rel="next"')
            # The same query spelled otherwise, and other queries: each its own reply.
            assert (await page(base + "?offset=0&limit=2"))[1] == ids(0, 2)
            status, second, headers = await page(base + "?limit=2&offset=2")
            assert second == ids(2, 2) and "offset=4&limit=2" in headers["Link"]
            assert (await page(base + "?limit=3"))[1] == ids(0, 3)
            assert (await page(base + "/?limit=2"))[2]["Link"].endswith(
                f'{base}/?offset=2&limit=2>; rel="next"')
            assert (await page(base + "?offset=24&limit=5"))[2]["X-Total-Count"] == str(COUNT)
            # A malformed query is answered as such every time, never from a reply.
            assert (await page(base + "?limit=-2"))[0] == 2001
    finally:
        await publisher.stop()


async def test_the_pages_generation_moves_on_with_every_change() -> None:
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(3)), MemoryAvailability())
    await publisher.start()
    await publisher.settle()
    try:
        before = publisher.pages.generation
        publisher.page(0, 2, None, None)
        assert publisher.pages.generation == before  # reading pages changes nothing
        await publisher.on_event(ConnectorStatusChanged(
            charge_point_id="CP-00001", evse_id=1, connector_id=1,
            status=ConnectorStatus.CHARGING, timestamp=T0))
        await publisher.settle()
        assert publisher.pages.generation > before
    finally:
        await publisher.stop()
