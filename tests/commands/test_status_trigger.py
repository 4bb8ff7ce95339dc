"""A charger that connects and reports nothing (it did not reboot, the gateway is fresh) is
asked for its statuses (TriggerMessage StatusNotification, 1.6 and 2.0.1), so that it can be
reserved at once instead of after its next status change."""

from __future__ import annotations

from pathlib import Path

from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    close_world,
    eventually,
    open_world,
)
from tests.ocpp.ocpp_test_support import Behaviour


async def test_a_silent_charger_is_asked_for_its_statuses_and_can_be_reserved(
        tmp_path: Path) -> None:
    world = await open_world(tmp_path, charger_status_trigger_seconds=0.1)
    try:
        await world.connect(CP16, Behaviour(statuses={1: "Available", 2: "Available"}))
        await world.connect(CP201, Behaviour(statuses={1: "Available", 2: "Charging"}))
        assert await eventually(lambda: world.evse_statuses(LOCATION, {
            "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE,
            "E3": EvseStatus.AVAILABLE}), within=10)
        assert await eventually(lambda: len(world.received(CP201, "TriggerMessage")) == 2)
        asked16 = world.received(CP16, "TriggerMessage")
        asked201 = world.received(CP201, "TriggerMessage")
        assert {p["requested_message"] for p in asked16 + asked201} == {"StatusNotification"}
        assert sorted(p.get("connector_id") for p in asked16) == [1, 2]
        assert sorted(p["evse"]["id"] for p in asked201) == [1, 2]
        reply = await world.command("RESERVE_NOW", world.reserve_body("r", evse_uid="E3"))
        assert reply["status_code"] == 1000, reply
        assert (await world.result("r"))["result"] == "ACCEPTED"
    finally:
        await close_world(world)


async def test_a_charger_that_reports_by_itself_is_not_asked(tmp_path: Path) -> None:
    world = await open_world(tmp_path, charger_status_trigger_seconds=0.3)
    try:
        await world.connect(CP16)
        await world.status(CP16, 1, "Available")
        await world.connect(CP201, Behaviour(statuses={1: "Available"}))
        assert await eventually(lambda: bool(world.received(CP201, "TriggerMessage")),
                                within=10)
        assert world.received(CP16, "TriggerMessage") == []
    finally:
        await close_world(world)
