"""The console in headless Chromium over a whole gateway: real OCPP 1.6 and 2.0.1 chargers, a
registered eMSP peer. An operator logs in, sees the EVSEs' statuses and a reservation made
over OCPI arrive without reloading, cancels it from the page, and the eMSP gets the result;
a stranger gets no data, and a POST without the session's CSRF token is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page

from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.admin.support import PASSWORDS, write_operators
from tests.commands.support import CP16, LOCATION, World, close_world, eventually, open_world
from tests.console.browser import chromium, log_in, new_page, open_view, screenshot
from tests.sessions.support import EMSP_MODULES, priced_locations, tariffs_doc

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    opened = await open_world(tmp_path, operators_file=operators, emsp_modules=EMSP_MODULES,
                              locations=priced_locations(), tariffs=tariffs_doc())
    yield opened
    await close_world(opened)


def _tile(page: Page, evse: str, status: str | None = None) -> str:
    selector = f'.evse[data-site="{LOCATION}"][data-evse="{evse}"]'
    return selector + (f'[data-status="{status}"]' if status else "")


async def _reserve(world: World, name: str, evse_uid: str) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body(name, name,
                                                                  evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result(name))["result"] == "ACCEPTED"


async def test_statuses_and_a_reservation_arrive_live_and_the_page_cancels_it(
        world: World, request: pytest.FixtureRequest) -> None:
    test = request.node.name
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, world.gateway.url, "alice", PASSWORDS["alice"])
        await open_view(page, "sites")
        await page.locator(_tile(page, "E1", "UNKNOWN")).wait_for()
        loaded = await page.locator("#view").get_attribute("data-loaded")

        # The chargers connect and report: the tiles change where they are, no reload.
        await world.all_available()
        for evse in ("E1", "E2", "E3"):
            await page.locator(_tile(page, evse, "AVAILABLE")).wait_for()
        await _reserve(world, "R16", "E1")
        await page.locator(_tile(page, "E1", "RESERVED")).wait_for()
        assert await page.locator("#view").get_attribute("data-loaded") == loaded
        assert await page.locator(_tile(page, "E2")).get_attribute("data-status") == "AVAILABLE"
        await screenshot(page, test, "sites")

        await open_view(page, "reservations")
        row = page.locator('tr[data-key="DE-EMS/R16"]')
        await row.wait_for()
        assert await row.locator(".state").text_content() == "ACTIVE"
        await screenshot(page, test, "reservations")

        notes: list[str] = []

        async def confirm(dialog: Dialog) -> None:
            notes.append(dialog.message)
            await dialog.accept("charger to be repaired")

        page.once("dialog", lambda dialog: asyncio.ensure_future(confirm(dialog)))
        await row.locator("button", has_text="Cancel").click()
        await page.locator(".message", has_text="DE-EMS/R16: REMOVED, charger accepted"
                           ).wait_for()
        assert notes == ["Cancel DE-EMS/R16? A note for the audit log:"]
        [sent] = world.received(CP16, "CancelReservation")
        assert sent["reservation_id"] is not None
        results = await eventually(lambda: world.emsp.command_results["R16"][1:])
        assert [r["result"] for r in results] == ["CANCELED_RESERVATION"]
        # The live list no longer shows it (the feed reported the transition).
        await page.locator('tr[data-key="DE-EMS/R16"]').wait_for(state="detached")
        await screenshot(page, test, "reservations-after-cancel")

        await open_view(page, "sites")
        await page.locator(_tile(page, "E1", "AVAILABLE")).wait_for()
        assert await world.evse_statuses(LOCATION, {"E1": EvseStatus.AVAILABLE})
        await open_view(page, "chargers")
        await page.locator('tr[data-charger="CP-16"]').wait_for()
        await screenshot(page, test, "chargers")
        await open_view(page, "partners")
        assert await page.locator("tr[data-partner]").count() == 1
        await screenshot(page, test, "partners")
        await open_view(page, "outbox")
        await screenshot(page, test, "outbox")


async def test_a_stranger_gets_no_data_and_no_post_passes_without_the_csrf_token(
        world: World) -> None:
    await world.all_available()
    await _reserve(world, "R1", "E1")
    async with chromium() as browser:
        stranger = await new_page(browser)
        await stranger.goto(world.gateway.url + "/console")
        await stranger.locator("#login").wait_for()
        assert await stranger.locator("#nav").is_hidden()
        assert await stranger.locator(".evse").count() == 0
        for path in ("/admin/api/sites", "/admin/api/reservations", "/admin/api/live",
                     "/admin/api/reports?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"):
            answer = await stranger.request.get(world.gateway.url + path)
            assert answer.status == 401, path
            assert (await answer.json())["error"] == "unauthenticated"
        cancel = "/admin/api/reservations/DE-EMS/R1/cancel"
        answer = await stranger.request.post(world.gateway.url + cancel)
        assert answer.status == 401

        # Logged in, a request that does not carry the session's CSRF token is refused:
        # what a forged form or a script on another site would send with the cookie.
        page = await new_page(browser)
        await log_in(page, world.gateway.url, "alice", PASSWORDS["alice"])
        statuses = await page.evaluate("""async (path) => {
            const send = (headers) => fetch(path, {method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', ...headers}, body: '{}'});
            const none = await send({});
            const wrong = await send({'X-CSRF-Token': 'not-the-token'});
            return [none.status, (await none.json()).error, wrong.status];
        }""", cancel)
        assert statuses == [403, "csrf", 403]
    reservation = await world.gateway.app[RESERVATIONS].repo.get("DE-EMS/R1")
    assert reservation is not None and reservation.live and reservation.state.value == "ACTIVE"
    assert world.received(CP16, "CancelReservation") == []
