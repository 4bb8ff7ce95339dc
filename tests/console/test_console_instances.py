"""The console's live feed across instances: two gateways share a real Redis and the store,
the chargers and the eMSP talk to the first, and a page open on the second sees every status
and reservation change as it happens (through the Redis stream, not the slower shared sync);
a viewer there cannot cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ocpi_gateway.config import ListenSettings
from ocpi_gateway.console.events import FEED
from ocpi_gateway.console.feed_redis import RedisFeed
from tests.admin.support import PASSWORDS, write_operators
from tests.commands.support import LOCATION, World, close_world, open_world
from tests.conftest import free_port
from tests.console.browser import chromium, log_in, new_page, open_view, screenshot
from tests.peers.gateway import RunningGateway, start_gateway

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str
               ) -> AsyncIterator[tuple[World, RunningGateway]]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    # The Locations shared sync adopts the first instance's statuses on the second too, but
    # tells no listener: only the Redis feed can reach a page open there.
    world = await open_world(tmp_path, operators_file=operators, redis_url=redis_url,
                             ocpp={"presence_ttl_seconds": 1.5})
    port = free_port()
    other = await start_gateway(world.gateway.settings.model_copy(update={
        "listen": ListenSettings(host="127.0.0.1", port=port),
        "public_url": f"http://127.0.0.1:{port}", "instance_id": "gw-other"}))
    yield world, other
    await other.stop()
    await close_world(world)


async def test_a_page_on_another_instance_sees_every_change_live(
        pair: tuple[World, RunningGateway], request: pytest.FixtureRequest) -> None:
    world, other = pair
    assert isinstance(other.app[FEED], RedisFeed)
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, other.url, "victor", PASSWORDS["victor"])
        await open_view(page, "sites")
        loaded = await page.locator("#view").get_attribute("data-loaded")
        await world.all_available()
        for evse in ("E1", "E2", "E3"):
            await page.locator(f'.evse[data-site="{LOCATION}"][data-evse="{evse}"]'
                               f'[data-status="AVAILABLE"]').wait_for(timeout=10_000)
        reply = await world.command("RESERVE_NOW", world.reserve_body("R1", "R1",
                                                                      evse_uid="E2"))
        assert reply["data"]["result"] == "ACCEPTED"
        await page.locator(f'.evse[data-site="{LOCATION}"][data-evse="E2"]'
                           f'[data-status="RESERVED"]').wait_for(timeout=10_000)
        assert await page.locator("#view").get_attribute("data-loaded") == loaded
        await screenshot(page, request.node.name, "sites-on-the-other-instance")

        await open_view(page, "reservations")
        row = page.locator('tr[data-key="DE-EMS/R1"]')
        await row.wait_for()
        # A viewer reads; the cancel button is an operator's.
        assert await row.locator("button").count() == 0
        # The eMSP cancels it over OCPI (at the first instance): the list here follows.
        cancelled = await world.command("CANCEL_RESERVATION", {
            "response_url": world.emsp.response_url("C1"), "reservation_id": "R1"})
        assert cancelled["data"]["result"] == "ACCEPTED"
        await page.locator('tr[data-key="DE-EMS/R1"]').wait_for(state="detached")
        await open_view(page, "sites")
        await page.locator(f'.evse[data-site="{LOCATION}"][data-evse="E2"]'
                           f'[data-status="AVAILABLE"]').wait_for(timeout=10_000)
