"""The console's timeline and charts in headless Chromium: a booking made over OCPI 2.3.0 by
an eMSP peer is drawn in its site's timeline, and the report's charts show the figures of
the prepared store (tests/console/report_store.py; worked out in tests/admin/test_reports.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, Route

from ocpi_gateway import keys
from tests.admin.support import PASSWORDS, AdminClient, write_operators
from tests.bookings.support import Clock as BookingClock
from tests.bookings.test_bookings_module import MODULES_230, POLICY, SITE, Site, register
from tests.commands.support import eventually
from tests.console import report_store as data
from tests.console.browser import chromium, log_in, new_page, open_view, screenshot
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    clock = BookingClock(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    gateway = await start_gateway(gateway_settings(
        tmp_path, locations_file=EXAMPLE, policy_file=policy, operators_file=operators),
        clock=clock)
    emsp = await register(gateway, EmspPeer(party_id="NEW", modules=MODULES_230,
                                            versions=("2.3.0",), ocpi_version="2.3.0"))
    yield Site(gateway, clock, emsp, emsp, emsp)
    await emsp.close()
    await gateway.stop()


async def test_a_booking_made_over_ocpi_is_in_the_timeline(
        site: Site, request: pytest.FixtureRequest) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, site.gateway.url, "alice", PASSWORDS["alice"])
        _, body = await site.post(site.request("B1", start=6, hours=2))
        booking = body["data"]
        assert booking["reservation_status"] == "RESERVED", booking
        start = site.at(6)

        await open_view(page, "timeline")
        await page.locator("select[name=site]").select_option(SITE)
        await page.locator("select[name=span]").select_option("day")
        await page.locator("input[name=day]").fill(start.strftime("%Y-%m-%d"))
        bar = page.locator('rect[data-kind="booking"][data-key="DE-NEW/B1"]')
        await bar.wait_for()
        assert await bar.get_attribute("data-state") == "RESERVED"
        # Not bound to an EVSE yet (that happens shortly before its start): its own lane.
        assert await page.locator("svg text", has_text="unassigned").count() == 1
        # Drawn where its slot is: a 24 h axis over the chart's width, 2 h from its start.
        box = await bar.bounding_box()
        axis = await page.locator(".timeline svg").bounding_box()
        assert box is not None and axis is not None
        hours = start.hour + start.minute / 60
        scale = axis["width"] / 960  # the viewBox's width
        expected_x = axis["x"] + (110 + (960 - 110) * hours / 24) * scale
        assert abs(box["x"] - expected_x) < 2
        assert abs(box["width"] - (960 - 110) * 2 / 24 * scale) < 2
        await screenshot(page, request.node.name, "timeline")


@pytest.fixture
async def prepared(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    gateway = await start_gateway(gateway_settings(tmp_path, operators_file=operators),
                                  clock=lambda: data.NOW)
    await data.prepare(gateway.app[keys.STORE])
    yield gateway
    await gateway.stop()


async def _bars(page: Page, chart: str) -> dict[tuple[str, str], float]:
    found = await page.locator(f"#{chart} rect").evaluate_all(
        "rects => rects.map(r => [r.dataset.row, r.dataset.series, Number(r.dataset.value)])")
    return {(row, series): value for row, series, value in found}


async def test_the_charts_show_the_report_figures(prepared: RunningGateway,
                                                  request: pytest.FixtureRequest) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, prepared.url, "alice", PASSWORDS["alice"])
        await page.evaluate("() => { window.location.hash = "
                            "'reports?from=2026-12-01&to=2026-12-02'; }")
        await page.locator("#view[data-view=reports][data-loaded]").wait_for()

        no_shows = await _bars(page, "chart-noshows")
        assert no_shows == {
            ("DE-AAA", "no-shows"): 0.5, ("DE-AAA", "used"): 0.5,
            ("DE-BBB", "no-shows"): 0.333333, ("DE-BBB", "used"): 1 - 0.333333,
            ("all eMSPs", "no-shows"): 0.428571, ("all eMSPs", "used"): 1 - 0.428571}
        usage = await _bars(page, "chart-utilisation")
        assert usage[("S1 E1", "reserved")] == 0.076389
        assert usage[("S1 E1", "used by the reserver")] == 0.041667
        assert usage[("S1 E2", "walk-in")] == 0.041667
        assert usage[("S1 (site)", "reserved")] == 0.083333
        assert usage[("S2 E9", "used by the reserver")] == 0.020833
        acceptance = await _bars(page, "chart-acceptance")
        assert acceptance == {
            ("DE-AAA booking", "accepted"): 0, ("DE-AAA booking", "refused"): 1,
            ("DE-AAA reservation", "accepted"): 1, ("DE-AAA reservation", "refused"): 3,
            ("DE-BBB booking", "accepted"): 2, ("DE-BBB booking", "refused"): 0,
            ("DE-BBB reservation", "accepted"): 0, ("DE-BBB reservation", "refused"): 0}
        reasons = await page.locator("#refusals tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        assert reasons == [["DE-AAA", "booking", "the site is full at 22:00", "1"],
                           ["DE-AAA", "reservation", "the token is banned", "2"],
                           ["DE-AAA", "reservation", "FAILED", "1"]]
        revenue = await _bars(page, "chart-revenue")
        assert revenue[("DE-AAA EUR", "no-show fees")] == 3.0
        assert revenue[("DE-AAA EUR", "late cancellation fees")] == 1.5
        assert revenue[("DE-AAA EUR", "reservation fees")] == 0.0
        assert revenue[("all eMSPs EUR", "reservation fees")] == 1.0
        assert revenue[("DE-BBB CHF", "no-show fees")] == 0.0

        # The same figures as the API answers (the page draws what it is given, nothing else).
        client = AdminClient(prepared.url)
        try:
            await client.login("alice")
            answer = await client.call(
                "GET", "/admin/api/reports?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z")
        finally:
            await client.close()
        assert answer.status == 200
        drawn = {row for row, _ in usage}
        assert drawn == {f"{u['location_id']} {u['evse_uid']}" if u["evse_uid"]
                         else f"{u['location_id']} (site)" for u in answer.body["utilisation"]}
        assert all(usage[(f"{u['location_id']} {u['evse_uid']}" if u["evse_uid"] else
                          f"{u['location_id']} (site)", "reserved")] == u["reserved_share"]
                   for u in answer.body["utilisation"])
        await screenshot(page, request.node.name, "reports")

        # A narrower window: the page asks again and draws the new figures.
        await page.locator("input[name=partner]").fill("DE-BBB")
        await page.locator("select[name=site]").select_option("")
        loaded = await page.locator("#view").get_attribute("data-loaded")
        await page.locator("form.toolbar button[type=submit]").click()
        assert await eventually(lambda: _changed(page, loaded))
        assert set(await _bars(page, "chart-noshows")) == {
            ("DE-BBB", "no-shows"), ("DE-BBB", "used"), ("all eMSPs", "no-shows"),
            ("all eMSPs", "used")}


async def _changed(page: Page, before: str | None) -> bool:
    return await page.locator("#view").get_attribute("data-loaded") != before


async def test_a_view_still_loading_when_the_operator_moves_on_never_fills_the_next(
        site: Site) -> None:
    # The sites view's request is held until the operator is on the reservations view; then
    # it completes. It once filled the reservations view with the sites (and marked it
    # loaded), so a list read just after showed none of its rows.
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Route) -> None:
        held.set()
        await release.wait()
        await route.continue_()

    async with chromium() as browser:
        page = await new_page(browser)
        await page.route("**/admin/api/sites?*", hold)
        await log_in(page, site.gateway.url, "alice", PASSWORDS["alice"])
        await held.wait()
        first = await page.evaluate_handle("() => document.getElementById('view')")
        await open_view(page, "reservations")
        release.set()
        await page.wait_for_function("view => view.querySelector('.site') !== null", arg=first)
        shown = page.locator("#view")
        assert await shown.get_attribute("data-view") == "reservations"
        assert await shown.locator(".site").count() == 0
        assert await shown.locator("h2").all_text_contents() != ["Sites"]
