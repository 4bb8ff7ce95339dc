"""A START_SESSION's token is admitted without real-time authorization for 15 minutes
(mod_commands), counted on the gateway's clock: the window is remembered and checked on the
same clock, so a test (or a gateway whose clock is set) sees it close when that clock says."""

from __future__ import annotations

from ocpi_gateway.domain.authorization import AuthorizationStatus
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from tests.commands.support import CP16, start_body
from tests.sessions.support import Rig


async def test_the_command_token_window_closes_on_the_gateway_clock(rig: Rig) -> None:
    world = rig.world
    await world.all_available()
    authorizer = world.gateway.app[TOKEN_AUTHORIZER]
    # Never pushed through the Tokens module: only the command admits it.
    assert (await authorizer.authorize(CP16, "DEEMS0001")).status is AuthorizationStatus.INVALID
    await world.command("START_SESSION", start_body(world, "go", evse_uid="E1",
                                                    connector_id="1"))
    assert (await world.result("go"))["result"] == "ACCEPTED"
    rig.clock.advance(minutes=14, seconds=59)
    assert (await authorizer.authorize(CP16, "DEEMS0001")).status is AuthorizationStatus.ACCEPTED
    rig.clock.advance(seconds=2)
    assert (await authorizer.authorize(CP16, "DEEMS0001")).status is AuthorizationStatus.INVALID
