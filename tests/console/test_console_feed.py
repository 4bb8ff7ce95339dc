"""The live feed and its stream: ``GET /admin/api/live`` opens with ``ready``, carries each
change, ends when the session does and when the gateway stops; a page that falls behind is
dropped (it reconnects and reloads); the Redis feed carries changes between instances and
skips an entry it cannot read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from ocpi_gateway.console import events
from ocpi_gateway.console.events import FEED
from ocpi_gateway.console.feed import QUEUE_SIZE, Change, Hub
from ocpi_gateway.console.feed_redis import RedisFeed
from tests.admin.support import AdminClient, write_operators
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


async def _event(response: aiohttp.ClientResponse) -> tuple[str, dict[str, object]] | None:
    """The next event of the stream (comments skipped); None at its end."""
    name, data = None, None
    while True:
        line = await response.content.readline()
        if not line:
            return None
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            name = text[7:]
        elif text.startswith("data: "):
            data = orjson.loads(text[6:])
        elif text == "" and name is not None:
            return name, data or {}


async def test_the_stream_carries_changes_and_ends_with_the_session(
        gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "HEARTBEAT", 0.2)
    client = AdminClient(gateway.url)
    try:
        assert (await client.login("alice")).status == 200
        async with client.http.get(gateway.url + "/admin/api/live") as response:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            assert await _event(response) == ("ready", {})
            gateway.app[FEED].publish(Change("evse", {"location_id": "L", "evse_uid": "E",
                                                      "status": "CHARGING", "at": "t"}))
            assert await _event(response) == ("evse", {"kind": "evse", "data": {
                "location_id": "L", "evse_uid": "E", "status": "CHARGING", "at": "t"}})
            assert (await client.raw("DELETE", "/admin/api/session")).status == 204
            # The next heartbeat finds the session gone: the stream ends, nothing more.
            assert await _event(response) is None
        assert gateway.app[FEED].hub.pages == 0
    finally:
        await client.close()


async def test_stopping_the_gateway_ends_open_streams(tmp_path: Path) -> None:
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    gateway = await start_gateway(gateway_settings(tmp_path, operators_file=operators))
    client = AdminClient(gateway.url)
    try:
        await client.login("alice")
        async with client.http.get(gateway.url + "/admin/api/live") as response:
            assert await _event(response) == ("ready", {})
            stopping = asyncio.create_task(gateway.stop())
            assert await _event(response) is None
            await stopping
    finally:
        await client.close()


def test_a_page_that_falls_behind_is_dropped() -> None:
    hub = Hub()
    slow, fine = hub.subscribe(), hub.subscribe()
    for n in range(QUEUE_SIZE):
        hub.deliver(Change("evse", {"n": n}))
    fine.queue = asyncio.Queue()  # this one keeps up
    hub.deliver(Change("evse", {"n": QUEUE_SIZE}))
    assert slow.overflowed and not fine.overflowed
    assert hub.pages == 1
    items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert items[-1] is None and len(items) == QUEUE_SIZE  # the oldest gave way to the end
    assert fine.queue.get_nowait() == Change("evse", {"n": QUEUE_SIZE})


async def test_the_redis_feed_carries_changes_between_feeds(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    await client.xadd("{console}:changes", {"c": Change("evse", {"old": 1}).encode()})
    first, second = RedisFeed(client), RedisFeed(client)
    await first.start()
    await second.start()
    try:
        page = second.hub.subscribe()
        own = first.hub.subscribe()
        await client.xadd("{console}:changes", {"c": b"not json"})
        await client.xadd("{console}:changes", {"other": b"field"})
        first.publish(Change("reservation", {"key": "DE-EMS/R1"}))
        # What was in the stream before the feed started is not replayed; the bad entries
        # are skipped; both instances' pages, the publisher's own too, get the change.
        got = await asyncio.wait_for(page.queue.get(), 10)
        assert got == Change("reservation", {"key": "DE-EMS/R1"})
        assert await asyncio.wait_for(own.queue.get(), 10) == got
        assert page.queue.empty()
    finally:
        await first.stop()
        await second.stop()
        await client.aclose()
