"""A Redis error in the middle of a RESERVE_NOW (Redis killed between the gate's check and the
hold, before the availability rebuild closed the gate) is not a failure of the command.

The regression: the Redis-restart property test saw a RESERVE_NOW end FAILED ("internal
error"): the ConnectionError escaped the reservation and the reservation's record stayed
PENDING until the recovery sweeper's next pass. Now the eMSP hears REJECTED with a message to
try again, the record ends at once, and nothing stays held.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from ocpi_gateway.commands.service import REDIS_UNREACHABLE
from ocpi_gateway.locations.extension import AVAILABILITY
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import ReservationState
from ocpi_gateway.reservations.extension import POLICY_ENGINE, RESERVATIONS
from tests.commands.support import LOCATION, World, eventually


async def test_redis_failing_mid_reservation_is_rejected_and_leaves_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await world.all_available()
    engine = world.gateway.app[POLICY_ENGINE]
    hold = engine.hold

    async def redis_gone(*args: Any, **kwargs: Any) -> Any:
        await hold(*args, **kwargs)  # taken, then the connection drops before the answer
        raise RedisConnectionError("Connection closed by server.")

    monkeypatch.setattr(engine, "hold", redis_gone)
    reply = await world.command("RESERVE_NOW", world.reserve_body("r1", "R1"))
    assert reply["status_code"] == 1000
    result = await world.result("r1")
    assert (result["result"], result["message"][0]["text"]) == ("REJECTED", REDIS_UNREACHABLE)

    service = world.gateway.app[RESERVATIONS]

    async def settled() -> bool:
        r = await service.get(Partner("DE", "EMS"), "R1")
        return r is not None and r.state is ReservationState.FAILED

    assert await eventually(settled)
    held = await world.gateway.app[AVAILABILITY].location(LOCATION)
    assert {uid: a.holder for uid, a in held.items() if a.holder is not None} == {}
    assert world.all_received("ReserveNow") == []

    # Redis back: the same reservation_id is accepted.
    monkeypatch.setattr(engine, "hold", hold)
    await world.command("RESERVE_NOW", world.reserve_body("r2", "R1"))
    assert (await world.result("r2"))["result"] == "ACCEPTED"
