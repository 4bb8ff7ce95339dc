"""Commands in 2.2.1 and 2.3.0: the same behaviour, apart from what 2.3.0 opened (CommandType
and TokenType are OpenEnums: an unknown command is NOT_SUPPORTED, an EMAID token is one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.commands.support import CP201, World, close_world, open_world
from tests.openapi import validate_object


@pytest.fixture(params=["2.2.1", "2.3.0"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    opened = await open_world(tmp_path, ocpi_version=request.param)
    yield opened
    await close_world(opened)


async def test_reserve_now_is_the_same_in_both_versions(world: World) -> None:
    await world.all_available()
    body = world.reserve_body("r1", evse_uid="E3")
    body["x_vendor_hint"] = {"anything": True}  # non-specified fields SHALL NOT be refused
    reply = await world.command("RESERVE_NOW", body)
    assert reply["status_code"] == 1000 and reply["data"]["result"] == "ACCEPTED", reply
    # The CommandResult reaches response_url; the peer validated it in its version.
    assert (await world.result("r1"))["result"] == "ACCEPTED"
    [sent] = world.received(CP201, "ReserveNow")
    assert sent["id_token"] == {"id_token": "DEEMS0001", "type": "ISO14443"}


async def test_an_unknown_command(world: World) -> None:
    body = {"response_url": world.emsp.response_url("x")}
    status, reply, _ = await world.emsp.call(
        "POST", f"{world.gateway.url}/ocpi/{world.emsp.ocpi_version}/commands/X_FLASH_LIGHTS",
        json=body, validate=False)  # the OpenAPI files list only the five known commands
    validate_object(world.emsp.ocpi_version, "components", "OCPIResponse", reply)
    if world.emsp.ocpi_version == "2.2.1":
        assert status == 404 and reply["status_code"] == 2001
    else:
        assert status == 200 and reply["status_code"] == 1000
        validate_object("2.3.0", "commands", "CommandResponse", reply["data"])
        assert reply["data"]["result"] == "NOT_SUPPORTED"


async def test_an_emaid_token(world: World) -> None:
    await world.all_available()
    body = world.reserve_body("emaid", evse_uid="E3", uid="NLEXAC0000000017", type="EMAID")
    reply = await world.command("RESERVE_NOW", body)
    if world.emsp.ocpi_version == "2.2.1":
        assert reply["status_code"] == 2001 and "token.type" in reply["status_message"], reply
        return
    assert reply["data"]["result"] == "ACCEPTED", reply
    assert (await world.result("emaid"))["result"] == "ACCEPTED"
    [sent] = world.received(CP201, "ReserveNow")
    assert sent["id_token"] == {"id_token": "NLEXAC0000000017", "type": "eMAID"}
