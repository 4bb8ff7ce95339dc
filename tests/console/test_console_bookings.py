"""The console's bookings (OCPI 2.3.0) in headless Chromium over a whole gateway (a real OCPP
1.6 and 2.0.1 charger, a 2.3.0 eMSP that books; tests/admin/booking_world.py): the list and
its filters, and the operator's acts from the page, each checked where it lands: cancel (the
eMSP is pushed the Booking CANCELED with the reason chosen), move a bound booking (the
charger's ReserveNow, the eMSP's EVSE, the timeline's lane), extend one (the eMSP's end)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from ocpi_gateway.bookings.context import BOOKINGS
from tests.admin.booking_world import (
    CONNECTOR,
    OTHER_T2,
    audit,
    booking_day,
    period_end,
    pushed_evse,
)
from tests.admin.support import PASSWORDS
from tests.bookings.test_booking_day import Day, z
from tests.commands.support import CP16, LOCATION, eventually
from tests.console.browser import chromium, log_in, new_page, open_view, screenshot

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[Day]:
    async with booking_day(tmp_path) as opened:
        yield opened


def _row(page: Page, request_id: str) -> Any:
    return page.locator(f'tr[data-key="DE-BKG/{request_id}"]')


async def _keys(page: Page) -> list[str]:
    return await page.locator("#view tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.key)")


async def _filter(page: Page, state: str, token: str) -> None:
    loaded = await page.locator("#view").get_attribute("data-loaded")
    await page.locator("select[name=state]").select_option(state)
    await page.locator("input[name=token]").fill(token)
    await page.locator("form.toolbar button[type=submit]").click()
    assert await eventually(lambda: _reloaded(page, loaded))


async def _made(page: Page, first: date | None, last: date | None) -> None:
    loaded = await page.locator("#view").get_attribute("data-loaded")
    for name, value in (("from", first), ("to", last)):
        await page.locator(f"input[name={name}]").fill(value.isoformat() if value else "")
    await page.locator("form.toolbar button[type=submit]").click()
    assert await eventually(lambda: _reloaded(page, loaded))


async def _reloaded(page: Page, before: str | None) -> bool:
    return await page.locator("#view").get_attribute("data-loaded") != before


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_bookings_list_filters_and_the_operator_acts_on_bookings(
        day: Day, request: pytest.FixtureRequest) -> None:
    test = request.node.name
    world = day.world
    first = await day.book("B1", "BKG-TOK1", start=60)
    second = await day.book("B2", "BKG-TOK2", start=120)
    third = await day.book("B3", "BKG-TOK3", start=120)
    day.clock.now = day.at(50)
    # B2 and B3 stay unbound here: with B1 bound, one Type 2 EVSE free for the two of them
    # within the hour would have the binder hold it for B2 now (bookings/shortage.py).
    binder = world.gateway.app[BOOKINGS].binder
    assert binder is not None
    binder.early_within = timedelta(0)
    await day.bind()
    was = await eventually(lambda: pushed_evse(day, first))  # through the outbox
    target = OTHER_T2[was]

    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, world.gateway.url, "alice", PASSWORDS["alice"])
        await open_view(page, "bookings")
        assert sorted(await _keys(page)) == ["DE-BKG/B1", "DE-BKG/B2", "DE-BKG/B3"]
        assert await _row(page, "B1").locator(".evse-uid").text_content() == was
        # Only a bound booking can be moved; every live one cancelled and extended.
        assert await _row(page, "B1").locator("button").all_text_contents() == [
            "Cancel", "Move", "Extend"]
        assert await _row(page, "B2").locator("button").all_text_contents() == [
            "Cancel", "Extend"]
        await screenshot(page, test, "bookings")

        # Made on which days (UTC, whole days): the next day has none, that day has all.
        made = day.t0.date()
        await _made(page, made + timedelta(days=1), None)
        assert await _keys(page) == []
        await page.locator("#view p.muted", has_text="none").wait_for()
        await _made(page, made, made)
        assert sorted(await _keys(page)) == ["DE-BKG/B1", "DE-BKG/B2", "DE-BKG/B3"]
        await _made(page, made - timedelta(days=1), made - timedelta(days=1))
        assert await _keys(page) == []
        await _made(page, None, None)

        await _filter(page, "live", "BKG-TOK2")
        assert await _keys(page) == ["DE-BKG/B2"]

        # Cancel, with the reason the eMSP is sent.
        await _row(page, "B2").locator("button", has_text="Cancel").click()
        dialog = page.locator("dialog.ask[open]")
        await dialog.locator("select[name=reason]").select_option("BROKEN_CHARGER")
        await dialog.locator("input[name=note]").fill("charger hit by a van")
        await screenshot(page, test, "cancel-dialog")
        await dialog.locator("button", has_text="Cancel the booking").click()
        await page.locator(".message", has_text="DE-BKG/B2: CANCELED (BROKEN_CHARGER)"
                           ).wait_for()
        assert await eventually(lambda: _pushed_state(day, second, "CANCELED"))
        assert (await day.pushed(second))["canceled"] == {
            "cancellation_reason": "BROKEN_CHARGER", "who_canceled": "CPO"}
        await _row(page, "B2").wait_for(state="detached")  # the live list no longer has it
        await _filter(page, "", "BKG-TOK2")
        assert await _row(page, "B2").locator(".state").text_content() == "CANCELED"
        assert await _row(page, "B2").locator("button").count() == 0
        await _filter(page, "live", "")
        assert sorted(await _keys(page)) == ["DE-BKG/B1", "DE-BKG/B3"]

        # Going back from the dialog sends nothing.
        await _row(page, "B3").locator("button", has_text="Cancel").click()
        await page.locator("dialog.ask[open] button", has_text="Back").click()
        await page.locator("dialog.ask").wait_for(state="detached")

        # Move the bound booking to the other Type 2 EVSE.
        await _row(page, "B1").locator("button", has_text="Move").click()
        await page.locator("dialog.ask[open] input[name=evse_uid]").fill(target)
        await page.locator("dialog.ask[open] button", has_text="Move").click()
        await page.locator(".message", has_text=f"DE-BKG/B1: RESERVED at {target}").wait_for()
        again = world.received(CP16, "ReserveNow")[-1]
        assert (again["connector_id"], again["id_tag"]) == (CONNECTOR[target], "BKG-TOK1")
        assert await eventually(lambda: _is(pushed_evse(day, first), target))
        await _row(page, "B1").locator(".evse-uid", has_text=target).wait_for()

        # Its history and requests, from the key.
        await _row(page, "B1").locator("a.key").click()
        history = page.locator("dialog.history[open]")
        await history.locator("tr.entry").nth(1).wait_for()  # loaded
        reasons = await history.locator("tr.entry td:last-child").all_text_contents()
        assert reasons[-2:] == ["bound", "re-routed"]
        assert await history.locator("tr.request td:nth-child(3)").all_text_contents() == [
            "ACCEPTED"]
        await history.locator("button", has_text="Close").click()
        await history.wait_for(state="detached")

        # Extend: the dialog offers the current end.
        await _row(page, "B3").locator("button", has_text="Extend").click()
        end = page.locator("dialog.ask[open] input[name=end_date]")
        assert _at(await end.input_value()) == _at(period_end(third)) == day.at(150)
        await end.fill(z(day.at(165)))
        await page.locator("dialog.ask[open] button", has_text="Extend").click()
        await page.locator(".message", has_text="DE-BKG/B3: RESERVED until").wait_for()
        assert await eventually(lambda: _pushed_end(day, third, day.at(165)))
        await screenshot(page, test, "bookings-after")

        # The timeline draws the moved booking in its new EVSE's lane.
        await open_view(page, "timeline")
        await page.locator("select[name=site]").select_option(LOCATION)
        await page.locator("input[name=day]").fill(day.at(60).strftime("%Y-%m-%d"))
        bar = page.locator('rect[data-kind="booking"][data-key="DE-BKG/B1"]')
        await bar.wait_for()
        label = page.locator(".timeline svg text", has_text=target).first
        assert float(await bar.get_attribute("y") or 0) == float(
            await label.get_attribute("y") or 0) - 13
        await screenshot(page, test, "timeline")
        # A week from that day: seven days on the axis, the booking still in its lane.
        loaded = await page.locator("#view").get_attribute("data-loaded")
        await page.locator("select[name=span]").select_option("week")
        assert await eventually(lambda: _reloaded(page, loaded))
        first_day = day.at(60).replace(hour=0, minute=0)
        assert await page.locator(".timeline svg text").all_text_contents() == [
            (first_day + timedelta(days=i)).strftime("%m-%d") for i in range(7)] + [
            "E1", "E2", "E3", "unassigned"]
        assert float(await bar.get_attribute("y") or 0) == float(
            await label.get_attribute("y") or 0) - 13
        await screenshot(page, test, "timeline-week")

        # B1's binding in the reservation list: it names its booking, and is extended as
        # the booking (above), not as a reservation.
        binding = f"DE-BKG/§BOOKING/{first['id'].upper()}"
        await open_view(page, "reservations")
        row = page.locator(f'tr[data-key="{binding}"]')
        assert "DE-BKG/B1" in await row.locator("td").all_text_contents()
        assert await row.locator("button").all_text_contents() == ["Cancel", "Move"]

        # A viewer sees the same lists and no button to act with.
        viewer = await new_page(browser)
        await log_in(viewer, world.gateway.url, "victor", PASSWORDS["victor"])
        for name in ("bookings", "reservations"):
            await open_view(viewer, name)
            assert await viewer.locator("#view tbody tr").count() >= 1, name
            assert await viewer.locator("#view button:not([type=submit])").count() == 0, name
        assert await _keys(viewer) == [binding]
    assert await audit(day, "cancel_booking", "move_booking", "extend_booking") == [
        ("alice", "cancel_booking", "ok"), ("alice", "move_booking", "ok"),
        ("alice", "extend_booking", "ok")]


async def _pushed_state(day: Day, booking: dict[str, Any], state: str) -> bool:
    return bool((await day.pushed(booking)).get("reservation_status") == state)


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _pushed_end(day: Day, booking: dict[str, Any], end: datetime) -> bool:
    pushed = await day.pushed(booking)
    return bool(pushed) and _at(period_end(pushed)) == end
