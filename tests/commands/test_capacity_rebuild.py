"""The capacity timeline after a real redis-server is SIGKILLed and restarted empty: rebuilt
from the store's live reservations before ``/ready`` answers 200 again (503 naming
``capacity`` meanwhile), and admission sees what was promised (no overbooking after it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.locations.extension import AVAILABILITY_RECOVERY, LOCATIONS
from ocpi_gateway.reservation_policy.capacity.base import Promise, Verdict
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservations.candidates import CatalogCandidates
from ocpi_gateway.reservations.extension import CAPACITY, CAPACITY_RECOVERY, POLICY
from tests.commands.support import LOCATION, World, close_world, eventually, open_world, policy_doc
from tests.commands.test_lifecycle import reserve
from tests.redis_servers import RedisProcess

T2 = frozenset({"IEC_62196_T2"})


@pytest.fixture
async def world(tmp_path: Path, restartable_redis: RedisProcess) -> AsyncIterator[World]:
    opened = await open_world(tmp_path, policy=policy_doc(bookings={"enabled": True}),
                              redis_url=restartable_redis.url)
    yield opened
    await close_world(opened)


async def ready(world: World) -> tuple[int, dict[str, Any]]:
    async with world.http.get(f"{world.gateway.url}/ready") as response:
        return response.status, await response.json()


async def promised(world: World) -> list[tuple[str, str | None, datetime]]:
    timeline = world.gateway.app[CAPACITY].timeline
    now = utc_now()
    found = await timeline.promises(LOCATION, now - timedelta(hours=1), now + timedelta(days=1))
    return sorted((p.promise_id, p.evse_uid, p.end) for p in found)


async def test_rebuilt_before_ready_and_admission_sees_it(
        world: World, restartable_redis: RedisProcess) -> None:
    await world.all_available()
    await reserve(world, "r1", reservation_id="R1", evse_uid="E1")
    await reserve(world, "r2", reservation_id="R2", evse_uid="E2")
    before = await promised(world)
    assert [(pid, evse) for pid, evse, _ in before] == [
        ("DE-EMS/R1|E1", "E1"), ("DE-EMS/R2|E2", "E2")]

    # A rebuild that waits until the test lets it go: /ready must stay 503 meanwhile.
    entered, release = asyncio.Event(), asyncio.Event()
    armed = True

    async def held_back(location_id: str, now: datetime) -> list[Promise]:
        if armed:
            entered.set()
            await release.wait()
        return []

    world.gateway.app[CAPACITY].add_stored_promises(held_back)
    rebuilds = world.gateway.app[CAPACITY_RECOVERY].rebuilds
    restartable_redis.kill()
    restartable_redis.start()
    await asyncio.wait_for(entered.wait(), 30)
    status, body = await ready(world)
    assert status == 503 and {"availability", "capacity"} <= set(body["failing"])
    armed = False
    release.set()

    async def back() -> bool:
        return (await ready(world))[0] == 200

    assert await eventually(back)
    # At least once (under load the availability recovery may start over once more).
    assert world.gateway.app[CAPACITY_RECOVERY].rebuilds > rebuilds
    after = await promised(world)
    assert [(pid, evse, end) for pid, evse, end in after] == before
    # Both T2 EVSEs are promised: a T2 booking overlapping them does not fit; without the
    # rebuild the timeline would have let it in (or known no site at all).
    timeline = world.gateway.app[CAPACITY].timeline
    now = utc_now()
    probe = Promise("probe", now + timedelta(minutes=1), now + timedelta(minutes=20),
                    Need(standards=T2))
    assert (await timeline.admit(LOCATION, probe)).verdict is Verdict.FULL
    # ... and one after them does.
    later = Promise("later", now + timedelta(hours=2), now + timedelta(hours=3),
                    Need(standards=T2))
    assert (await timeline.admit(LOCATION, later)).ok


async def test_a_site_touched_before_the_rebuild_restores_itself(
        world: World, restartable_redis: RedisProcess) -> None:
    """Between the loss and its detection an attempt may reach the timeline: the site is
    restored from the store first (the admission found it gone), never admitted empty."""
    await world.all_available()
    # Nothing notices the loss in this test: no eager rebuild, only the admission's own.
    await world.gateway.app[AVAILABILITY_RECOVERY].stop()
    rebuilds = world.gateway.app[CAPACITY_RECOVERY].rebuilds
    await reserve(world, "r1", reservation_id="R1", evse_uid="E1")
    [(kept, _, _)] = await promised(world)
    capacity = world.gateway.app[CAPACITY]
    candidates = await CatalogCandidates(lambda: world.gateway.app[LOCATIONS].catalog,
                                         lambda _: False).candidates(LOCATION)
    restartable_redis.kill()
    restartable_redis.start()
    assert await promised(world) == []  # Redis lost it
    # Straight to the timeline, as an attempt in flight would, ahead of the recovery's check.
    admission = await capacity.admit(
        LOCATION, candidates, "E1", holder="DE-EMS/R9", until=utc_now() + timedelta(minutes=5),
        settings=world.gateway.app[POLICY].effective(LOCATION))
    assert admission.verdict is Verdict.EVSE_TAKEN  # R1 holds E1: restored before the check
    assert (await capacity.admit(
        LOCATION, candidates, "E2", holder="DE-EMS/R9", until=utc_now() + timedelta(minutes=5),
        settings=world.gateway.app[POLICY].effective(LOCATION))).ok
    assert [pid for pid, _, _ in await promised(world)] == [kept, "DE-EMS/R9|E2"]
    assert world.gateway.app[CAPACITY_RECOVERY].rebuilds == rebuilds  # not the eager one
