"""Redis behind Sentinel (a primary, a replica, three Sentinels, all real processes): the
primary is SIGKILLed while two gateway instances reserve across each other. After the
failover commands go on, nothing is double-booked, no command FAILED, no charger socket is
closed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ocpi_gateway.locations.extension import AVAILABILITY, AVAILABILITY_RECOVERY
from ocpi_gateway.ocpp_wiring import OCPP_SERVER
from ocpi_gateway.reservation_policy.records import ReservationState
from ocpi_gateway.reservations.extension import RESERVATIONS
from tests.commands.support import CP16, CP201, eventually
from tests.commands.test_concurrency_http import EVSES, LOC, OWNER, Cluster, _close, _open
from tests.redis_servers import SentinelProcesses


@pytest.fixture
async def pair_on_sentinel(tmp_path: Path, redis_sentinel: SentinelProcesses,
                           ) -> AsyncIterator[tuple[Cluster, SentinelProcesses]]:
    # Generous command timeouts: a charger's answer on a loaded machine can take seconds, and
    # a TIMEOUT there would say nothing about the failover.
    cluster = await _open(tmp_path, random.Random(7), "redis://127.0.0.1/0", 2,
                          charger_seconds=15.0, result_seconds=40,
                          redis_mode="sentinel", redis_sentinels=redis_sentinel.sentinel_addresses,
                          redis_master=redis_sentinel.MASTER)
    yield cluster, redis_sentinel
    await _close(cluster)


# Two gateway processes' worth of work beside a failover: minutes on a loaded machine, not
# stuck. Every wait below is for an event (a result, a promotion, /ready) with a bound that
# only guards against a hang.
@pytest.mark.timeout(600)
async def test_commands_go_on_after_the_primary_is_killed(
        pair_on_sentinel: tuple[Cluster, SentinelProcesses]) -> None:
    cluster, sentinel = pair_on_sentinel
    world = cluster.worlds[0]
    for n in range(1, 5):
        await world.status(CP16, n, "Available")
    for n in range(1, 4):
        await world.status(CP201, 1, "Available", evse=n)

    async def all_seen() -> bool:
        seen = await cluster.worlds[1].gateway.app[AVAILABILITY].location(LOC)
        return len(seen) == len(EVSES)

    assert await eventually(all_seen)
    service = cluster.gateways[0].app[RESERVATIONS]
    results: list[str] = []

    async def round_(run: int) -> list[str]:
        names = [f"s{run}-{i}" for i in range(2)]
        replies = await asyncio.gather(*(
            cluster.worlds[i % 2].command("RESERVE_NOW", cluster.worlds[i % 2].reserve_body(
                name, f"S{run}-{i}", location_id=LOC)) for i, name in enumerate(names)))
        assert all(r["status_code"] == 1000 for r in replies), replies
        got = [(await world.result(name, within=180))["result"] for name in names]
        results.extend(got)
        live = [r for r in await service.live_at_location(LOC)
                if r.state is ReservationState.ACTIVE]
        evses = [r.evse_uid for r in live]
        assert len(evses) == len(set(evses)), (run, evses)  # never double-booked
        for r in live:
            await service.cancel(OWNER, r.reservation_id, charger_wait=2.0)
        return got

    async def promoted() -> bool:
        probe = aioredis.Redis(host="127.0.0.1", port=sentinel.sentinel_ports[0])
        try:
            _, port = await probe.sentinel_get_master_addr_by_name(sentinel.MASTER)
        finally:
            await probe.aclose()
        return int(port) == sentinel.replica.port

    for run in range(3):
        assert await round_(run) == ["ACCEPTED", "ACCEPTED"], results
    sentinel.primary.kill()  # mid-traffic: the Sentinels promote the replica
    run = 3
    while not await promoted():  # traffic goes on during the failover (counted in rounds)
        assert run < 200, "the Sentinels never promoted the replica"
        await round_(run)
        run += 1

    async def ready() -> bool:
        statuses = []
        for w in cluster.worlds:
            async with w.http.get(f"{w.gateway.url}/ready") as response:
                statuses.append(response.status)
        return statuses == [200, 200]

    # /ready is 503 while either instance rebuilds its availability: once both say 200 the
    # rebuild (if the failover caused one) is over for good: it is not started again.
    assert await eventually(ready, within=300)
    rebuilds = [g.app[AVAILABILITY_RECOVERY].rebuilds for g in cluster.gateways]
    # After the failover commands go on: three rounds in a row all ACCEPTED (a command in
    # flight while a connection of the pool finds the new primary may still time out).
    streak = 0
    for extra in range(30):
        streak = streak + 1 if await round_(run + extra) == ["ACCEPTED", "ACCEPTED"] else 0
        if streak == 3:
            break
    assert streak == 3, results
    assert [g.app[AVAILABILITY_RECOVERY].rebuilds for g in cluster.gateways] == rebuilds
    assert "FAILED" not in results, results
    assert all(not c.ws.closed for c in world.chargers.values())
    assert all(cluster.gateways[0].app[OCPP_SERVER].registry.get(cp) is not None
               for cp in world.chargers)
