"""End to end: a RESERVE_NOW on the 2.0.1 charger that has a display (chargers.yaml
``display.reserved``) shows "Reserved until HH:MM" in the site's time zone while it lasts and
clears it at its end (cancelled, used); the 1.6 charger gets nothing of the kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ocpp.v201 import call as call201

from ocpi_gateway.reservation_policy.records import ReservationState
from ocpi_gateway.reservations.extension import RESERVED_DISPLAY
from tests.commands.support import (
    CP16,
    CP201,
    World,
    chargers_doc,
    close_world,
    eventually,
    open_world,
)
from tests.commands.test_lifecycle import now_z, reserve, state_is


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    doc = chargers_doc()
    for charger in doc["chargers"]:
        if charger["id"] == CP201:
            charger["display"] = {"reserved": True}
    opened = await open_world(tmp_path, chargers=doc)
    yield opened
    await close_world(opened)


def expected_text(world: World, name: str) -> tuple[str, str]:
    """The text and end time the charger must show for the reservation ``name`` made."""
    [reserve_now] = world.received(CP201, "ReserveNow")
    until = datetime.fromisoformat(reserve_now["expiry_date_time"])
    local = until.astimezone(ZoneInfo("Europe/Amsterdam"))
    return f"Reserved until {local:%H:%M}", reserve_now["expiry_date_time"]


async def shown(world: World) -> bool:
    return bool(world.received(CP201, "SetDisplayMessage"))


async def test_shown_while_reserved_and_cleared_when_cancelled(world: World) -> None:
    await world.all_available()
    await reserve(world, "res", evse_uid="E3")
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    assert await eventually(lambda: shown(world))
    [message] = world.received(CP201, "SetDisplayMessage")
    text, until = expected_text(world, "res")
    assert message["message"]["id"] == ocpp_id
    assert message["message"]["message"]["content"] == text
    assert message["message"]["end_date_time"] == until
    assert message["message"]["display"] == {"name": "DisplayMessageCtrlr",
                                             "evse": {"id": 1}}
    await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("cancel"), "reservation_id": "R1"})
    assert (await world.result("cancel"))["result"] == "ACCEPTED"

    async def cleared() -> bool:
        return world.received(CP201, "ClearDisplayMessage") == [{"id": ocpp_id}]

    assert await eventually(cleared)


async def test_cleared_when_the_driver_arrives(world: World) -> None:
    await world.all_available()
    await reserve(world, "use", evse_uid="E3")
    ocpp_id = world.received(CP201, "ReserveNow")[0]["id"]
    assert await eventually(lambda: shown(world))
    await world.chargers[CP201].charger.call(call201.TransactionEvent(
        event_type="Started", timestamp=now_z(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "TX-1"}, reservation_id=ocpp_id,
        evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "DEEMS0001", "type": "ISO14443"}))
    assert await eventually(lambda: state_is(world, ReservationState.USED))

    async def cleared() -> bool:
        return world.received(CP201, "ClearDisplayMessage") == [{"id": ocpp_id}]

    assert await eventually(cleared)


async def test_a_charger_without_a_display_gets_no_message(world: World) -> None:
    await world.all_available()
    await reserve(world, "res16", evse_uid="E1")
    await world.gateway.app[RESERVED_DISPLAY].idle()
    assert world.received(CP16, "SetDisplayMessage") == []
    assert world.all_received("SetDisplayMessage") == []
