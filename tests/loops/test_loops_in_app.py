"""The loops of the whole gateway: every periodic job runs as a BackgroundLoop in
``app[keys.LOOPS]``, ``/ready`` names a loop that stopped or fell behind, shutdown stops
them all, and ``/metrics`` shows their last runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from ocpi_gateway import keys
from ocpi_gateway.domain.loops import BackgroundLoop
from tests.loops.support import Ticks, settle
from tests.peers.gateway import gateway_settings, start_gateway

WITH_REDIS = {
    "admin-housekeeping", "availability-recovery", "bookings-bind", "bookings-sweep",
    "bookings-welcome",
    "capacity-prune", "capacity-rebuild", "cdrs-sweep",
    "commands-sweep",
    "hubclientinfo-sync", "locations-shared-sync", "locations-welcome", "ocpp-liveness",
    "ocpp-presence-refresh", "outbox-adopt",
    "reservations-expiry", "reservations-recovery", "sessions-sweep", "tariffs-welcome",
}
WITHOUT_REDIS = WITH_REDIS - {"availability-recovery", "capacity-rebuild",
                              "locations-shared-sync",
                              "ocpp-liveness", "ocpp-presence-refresh"}


async def _ready(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/ready") as response:
        return response.status, await response.json()


async def test_every_periodic_job_of_the_gateway_is_a_registered_loop(
        tmp_path: Path, redis_url: str) -> None:
    running = await start_gateway(gateway_settings(tmp_path, redis_url=redis_url))
    registry = running.app[keys.LOOPS]
    loops = registry.loops()
    try:
        assert {loop.name for loop in loops} == WITH_REDIS
        assert all(loop.running for loop in loops)
        assert await _ready(running.url) == (200, {"status": "ready"})
    finally:
        await running.stop()
    # Shutdown cancelled every one of them and nothing is left behind.
    assert registry.loops() == []
    assert not any(loop.running for loop in loops)


async def test_without_redis_the_redis_loops_do_not_run(tmp_path: Path) -> None:
    running = await start_gateway(gateway_settings(tmp_path))
    try:
        assert {loop.name for loop in running.app[keys.LOOPS].loops()} == WITHOUT_REDIS
    finally:
        await running.stop()


async def test_ready_names_a_loop_that_fell_behind_or_stopped(tmp_path: Path) -> None:
    running = await start_gateway(gateway_settings(tmp_path), extensions=[])
    ticks = Ticks()
    hang = asyncio.Event()
    try:
        stuck = BackgroundLoop("stuck-job", hang.wait, interval=1.0,
                               registry=running.app[keys.LOOPS], clock=ticks,
                               sleep=ticks.sleep, stale_after=10.0)
        stuck.start()
        await settle()
        assert (await _ready(running.url))[0] == 200
        await ticks.advance(11.0)
        status, body = await _ready(running.url)
        assert status == 503 and body["failing"] == ["loop:stuck-job"]
        hang.set()
        await settle()
        assert (await _ready(running.url))[0] == 200
        await stuck.stop()

        class Fatal(BaseException):
            pass

        async def dies() -> None:
            raise Fatal

        dead = BackgroundLoop("dead-job", dies, interval=1.0,
                              registry=running.app[keys.LOOPS], sleep=ticks.sleep)
        dead.start()
        await settle()
        status, body = await _ready(running.url)
        assert status == 503 and body["failing"] == ["loop:dead-job"]
        await dead.stop()
    finally:
        await running.stop()


async def test_metrics_show_the_last_run_of_the_gateway_loops(tmp_path: Path) -> None:
    running = await start_gateway(gateway_settings(tmp_path))
    try:
        expiry = next(loop for loop in running.app[keys.LOOPS].loops()
                      if loop.name == "reservations-expiry")
        for _ in range(500):  # it runs at start; a hang guard only
            if expiry.last_run is not None:
                break
            await asyncio.sleep(0.01)
        before = expiry.last_run
        assert before is not None
        async with aiohttp.ClientSession() as http, \
                http.get(f"{running.url}/metrics") as response:
            text = await response.text()
        lines = [line for line in text.splitlines()
                 if line.startswith('gateway_loop_last_run_timestamp_seconds{loop="'
                                    'reservations-expiry"}')]
        # The gauge follows the runs: between the run seen before the scrape and the latest.
        assert len(lines) == 1
        assert before <= float(lines[0].split()[-1]) <= (expiry.last_run or 0.0)
    finally:
        await running.stop()


async def test_the_gateway_stops_though_a_loop_lost_its_cancellation(
        tmp_path: Path, redis_url: str) -> None:
    """The hang seen (``benchmarks/locations_startup.py --redis``, two-instance tests on a
    cluster): the availability check was cancelled inside a Redis call that dropped the
    cancellation (Python 3.11's ``wait_for`` in redis-py), the loop went on, and the app's
    cleanup waited for it for ever. Here a check loses its cancellation for sure."""
    from ocpi_gateway.locations.extension import AVAILABILITY_RECOVERY

    running = await start_gateway(gateway_settings(tmp_path, redis_url=redis_url))
    recovery = running.app[AVAILABILITY_RECOVERY]
    store = recovery.store
    real_join = store.join_run
    in_check = asyncio.Event()

    async def lossy_join(candidate: str) -> str:
        in_check.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # dropped, as redis-py on 3.11 can
        return await real_join(candidate)

    store.join_run = lossy_join  # type: ignore[method-assign]
    store.lost.set()  # the recovery looks now
    done, _ = await asyncio.wait({asyncio.ensure_future(in_check.wait())}, timeout=60)
    assert done, "the availability check never ran"
    stopping = asyncio.ensure_future(running.stop())
    # Generous: it ends in a few passes of the event loop; only a hang reaches this.
    done, _ = await asyncio.wait({stopping}, timeout=120)
    assert done, "the gateway's shutdown waited for ever on the availability loop"
    await stopping
    assert not any(loop.running for loop in running.app[keys.LOOPS].loops())
