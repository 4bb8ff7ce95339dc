"""The console's other buttons in headless Chromium over a whole gateway (real OCPP 1.6 and
2.0.1 chargers, a registered eMSP peer): an operator moves a reservation to another EVSE and
gives it a new expiry, retries a dead letter and drops another. Each test checks what the
button did where it matters (the store, the chargers, the eMSP), not only the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.admin.support import PASSWORDS, write_operators
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
)
from tests.console.browser import chromium, log_in, new_page, open_view, screenshot
from tests.sessions.support import EMSP_MODULES, priced_locations, tariffs_doc

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    opened = await open_world(tmp_path, operators_file=operators, emsp_modules=EMSP_MODULES,
                              locations=priced_locations(), tariffs=tariffs_doc())
    yield opened
    await close_world(opened)


async def _reserve(world: World, name: str, evse_uid: str) -> None:
    reply = await world.command("RESERVE_NOW", world.reserve_body(name, name,
                                                                  evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result(name))["result"] == "ACCEPTED"


def _answer_prompt(page: Page, value: str, seen: list[tuple[str, str]]) -> None:
    """Answer the next prompt with ``value``; ``seen`` gets its question and default."""
    async def answer(dialog: Dialog) -> None:
        seen.append((dialog.message, dialog.default_value))
        await dialog.accept(value)

    page.once("dialog", lambda dialog: asyncio.ensure_future(answer(dialog)))


def _confirm(page: Page, accept: bool, seen: list[str]) -> None:
    async def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda dialog: asyncio.ensure_future(answer(dialog)))


def _session_evse(world: World) -> str | None:
    [session] = world.emsp.sessions.values()
    return session.get("evse_uid")  # type: ignore[no-any-return]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def test_the_page_moves_a_reservation_and_extends_it(
        world: World, request: pytest.FixtureRequest) -> None:
    test = request.node.name
    repo = world.gateway.app[RESERVATIONS].repo
    await world.all_available()
    await _reserve(world, "R1", "E1")
    assert await eventually(lambda: len(world.emsp.sessions) == 1)
    booked = await repo.get("DE-EMS/R1")
    assert booked is not None
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, world.gateway.url, "alice", PASSWORDS["alice"])
        await open_view(page, "reservations")
        row = page.locator('tr[data-key="DE-EMS/R1"]')
        await row.wait_for()
        await screenshot(page, test, "reservations")

        # Move: to the 2.0.1 charger's EVSE E3.
        seen: list[tuple[str, str]] = []
        _answer_prompt(page, " E3 ", seen)
        await row.locator("button", has_text="Move").click()
        await page.locator(".message", has_text="DE-EMS/R1: REROUTED at E3").wait_for()
        assert seen == [(f"Move DE-EMS/R1 to which EVSE of {LOCATION}?", "")]
        moved = await repo.get("DE-EMS/R1")
        assert moved is not None and (moved.evse_uid, moved.state.value) == ("E3", "REROUTED")
        assert moved.history[-1]["reason"] == "moved by the operator alice"
        [reserve_now] = world.received(CP201, "ReserveNow")
        assert (reserve_now["evse_id"], reserve_now["id"]) == (1, moved.ocpp_reservation_id)
        assert await eventually(lambda: [c["reservation_id"] for c in world.received(
            CP16, "CancelReservation")] == [booked.ocpp_reservation_id])
        assert await eventually(lambda: _session_evse(world) == "E3")
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "E1": EvseStatus.AVAILABLE}))
        # The row follows (the feed reported the transition).
        await row.locator("td", has_text="E3").first.wait_for()
        assert await row.locator(".state").text_content() == "REROUTED"
        await screenshot(page, test, "reservations-after-move")

        # Extend: the prompt offers the current expiry; the page sends the new one.
        later = moved.expiry.replace(microsecond=0) + timedelta(minutes=45)
        seen.clear()
        _answer_prompt(page, _iso(later), seen)
        await row.locator("button", has_text="Extend").click()
        await page.locator(".message", has_text="DE-EMS/R1: REROUTED until").wait_for()
        [(question, default)] = seen
        assert question == "New expiry of DE-EMS/R1 (ISO 8601, UTC):"
        assert datetime.fromisoformat(default) == moved.expiry
        extended = await repo.get("DE-EMS/R1")
        assert extended is not None and extended.expiry == later
        assert extended.history[-1]["reason"] == "expiry changed by the operator alice"
        assert extended.evse_uid == "E3"
        again = world.received(CP201, "ReserveNow")[-1]
        assert len(world.received(CP201, "ReserveNow")) == 2
        assert again["id"] == moved.ocpp_reservation_id
        assert datetime.fromisoformat(again["expiry_date_time"].replace("Z", "+00:00")) == later
        await screenshot(page, test, "reservations-after-extend")

        # Its history, from the key: every transition with why, the operator's acts named.
        await row.locator("a.key").click()
        history = page.locator("dialog.history[open]")
        # The dialog opens before its rows arrive (a fetch): wait for the last one, then read.
        await history.locator("tr.entry").nth(len(extended.history) - 1).wait_for()
        reasons = await history.locator("tr.entry td:last-child").all_text_contents()
        assert reasons == [e["reason"] for e in extended.history]
        assert reasons[-2:] == ["moved by the operator alice",
                                "expiry changed by the operator alice"]
        assert await history.locator("tr.request").count() == 0  # a reservation has none
        await screenshot(page, test, "reservation-history")
        await history.locator("button", has_text="Close").click()
        await history.wait_for(state="detached")

        # A refused move says why on the page and changes nothing.
        _answer_prompt(page, "E9", seen)
        await row.locator("button", has_text="Move").click()
        await page.locator(".message.error", has_text="DE-EMS/R1:").wait_for()
        assert "E9" in (await page.locator(".message.error").text_content() or "")
        still = await repo.get("DE-EMS/R1")
        assert still is not None and (still.evse_uid, still.expiry) == ("E3", later)
        assert len(world.received(CP201, "ReserveNow")) == 2


def _dead_for(docs: list[dict[str, object]], name: str) -> str:
    [found] = [str(d["id"]) for d in docs if str(d["url"]).endswith(f"/results/{name}")]
    return found


async def _dead_letters(world: World) -> list[dict[str, object]]:
    return await world.gateway.app[keys.STORE].find(OUTBOX, {"dead": True})


async def test_the_page_retries_a_dead_letter_and_drops_another(
        world: World, request: pytest.FixtureRequest) -> None:
    test = request.node.name
    store = world.gateway.app[keys.STORE]
    await world.all_available()
    # The eMSP refuses the next two CommandResults: both end as dead letters.
    world.emsp.results_refused = 2
    for name, evse in (("R1", "E1"), ("R2", "E3")):
        reply = await world.command("RESERVE_NOW", world.reserve_body(name, name,
                                                                      evse_uid=evse))
        assert reply["data"]["result"] == "ACCEPTED", reply
    assert await eventually(lambda: _count(world, 2))
    docs = await _dead_letters(world)
    retry_id, drop_id = _dead_for(docs, "R1"), _dead_for(docs, "R2")
    assert world.emsp.command_results == {}
    assert _result_posts(world, "R2") == 1

    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, world.gateway.url, "alice", PASSWORDS["alice"])
        await open_view(page, "outbox")
        retry_row = page.locator(f'tr[data-delivery="{retry_id}"]')
        drop_row = page.locator(f'tr[data-delivery="{drop_id}"]')
        await retry_row.wait_for()
        await drop_row.wait_for()
        assert "OCPI 2001" in (await retry_row.text_content() or "")
        assert "dead 2" in (await page.locator("#view .muted").first.text_content() or "")
        await screenshot(page, test, "dead-letters")

        await retry_row.locator("button", has_text="Retry").click()
        await page.locator(".message", has_text=f"retried: {retry_id}").wait_for()
        # The eMSP gets the result it refused, once; the outbox forgets it.
        results = await eventually(lambda: world.emsp.command_results.get("R1"))
        assert [r["result"] for r in results] == ["ACCEPTED"]
        assert await eventually(lambda: _gone(world, retry_id))
        entry = await store.get(OUTBOX, drop_id)
        assert entry is not None and entry["dead"] is True

        # Dropping asks first; declined, nothing happens.
        asked: list[str] = []
        _confirm(page, False, asked)
        await drop_row.locator("button", has_text="Drop").click()
        assert await eventually(lambda: len(asked) == 1)
        assert await store.get(OUTBOX, drop_id) is not None
        _confirm(page, True, asked)
        await drop_row.locator("button", has_text="Drop").click()
        await page.locator(".message", has_text=f"dropped: {drop_id}").wait_for()
        assert await store.get(OUTBOX, drop_id) is None
        await drop_row.wait_for(state="detached")
        assert asked == [f"Drop {drop_id} for good? POST "
                         f"{world.emsp.response_url('R2')} will never be sent."] * 2
        await screenshot(page, test, "dead-letters-after")
        # The page shows what is left after a reload: nothing dead.
        await open_view(page, "sites")
        await open_view(page, "outbox")
        await page.locator("#view p", has_text="no dead letters").wait_for()
    # One drop reached the gateway (the declined one sent nothing), one retry; both audited.
    acts = [(e["operator"], e["action"], e["target"]["delivery_id"], e["outcome"])
            for e in await store.find(AUDIT, order_by="at") if e["action"] != "login"]
    assert acts == [("alice", "retry_dead_letter", retry_id, "ok"),
                    ("alice", "drop_dead_letter", drop_id, "ok")]
    # The dropped result was never sent again; the retried one was sent once more.
    assert "R2" not in world.emsp.command_results
    assert (_result_posts(world, "R1"), _result_posts(world, "R2")) == (2, 1)


def _result_posts(world: World, name: str) -> int:
    return sum(1 for r in world.emsp.received if r.path.endswith(f"/results/{name}"))


async def _count(world: World, expected: int) -> bool:
    return len(await _dead_letters(world)) == expected


async def _gone(world: World, delivery_id: str) -> bool:
    return await world.gateway.app[keys.STORE].get(OUTBOX, delivery_id) is None
