"""The run hand-over of the availability rebuild (``availability/recovery.py``) on a real
redis-server, two instances: after Redis lost its data one run is adopted by both, and a
rebuild that finished stays finished. A "not rebuilt" answer to a pick sent before the rebuild
began (a pick in flight under the old run) must not start yet another run: under load the two
instances otherwise hand new runs back and forth and RESERVE_NOW answers "being rebuilt" for
ever (seen after a Sentinel failover)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from ocpi_gateway.reservation_policy.availability.base import AvailabilityRebuilding, EvseStatus
from ocpi_gateway.reservation_policy.availability.recovery import AvailabilityRecovery
from ocpi_gateway.reservation_policy.availability.redis import RUN_MARKER, RedisAvailability

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOC = "L1"


def _clock() -> datetime:
    return NOW


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[AvailabilityRecovery, ...]]:
    stores = [RedisAvailability(aioredis.from_url(redis_url), clock=_clock) for _ in range(2)]
    # The checks are run by the test itself: no loop, no settle wait.
    recoveries = tuple(AvailabilityRecovery(s, lambda: [LOC], check_interval=3600, settle=0)
                       for s in stores)
    yield recoveries
    for s in stores:
        await s.close()


async def _marker(recovery: AvailabilityRecovery) -> str:
    raw = await recovery.store._redis.get(RUN_MARKER)
    return raw.decode() if raw is not None else ""


async def _statuses(store: RedisAvailability) -> None:
    for uid in ("E1", "E2", "E3"):
        await store.set_status(LOC, uid, EvseStatus.AVAILABLE, NOW)


async def _pick(store: RedisAvailability, holder: str) -> str | None:
    try:
        return await store.pick_and_hold(LOC, ["E1", "E2", "E3"], holder=holder,
                                         until=NOW + timedelta(minutes=10))
    except AvailabilityRebuilding:
        return None


async def _both_rebuilt(a: AvailabilityRecovery, b: AvailabilityRecovery) -> str:
    for recovery in (a, b):
        await recovery.check()
    run = await _marker(a)
    assert run and a.store.run == b.store.run == run and a.rebuilt and b.rebuilt
    return run


async def test_a_stale_not_rebuilt_answer_does_not_start_another_run(
        pair: tuple[AvailabilityRecovery, AvailabilityRecovery]) -> None:
    a, b = pair
    await _both_rebuilt(a, b)
    await _statuses(a.store)
    await a.store._redis.flushall()  # Redis came back empty
    # A pick sent under the old run answers "not rebuilt" while the check already runs.
    picked, _ = await asyncio.gather(_pick(a.store, "H1"), a.check())
    assert picked is None
    run = await _marker(a)
    assert a.store.run == run and a.rebuilt
    await b.check()
    await _statuses(a.store)
    rebuilds = a.rebuilds + b.rebuilds
    for _ in range(3):
        await a.check()
        await b.check()
    # The run both rebuilt under stands: nothing was lost since.
    assert await _marker(a) == run
    assert a.rebuilds + b.rebuilds == rebuilds
    assert await _pick(a.store, "H2") is not None
    assert await _pick(b.store, "H3") is not None


async def test_a_location_that_really_lost_its_data_moves_both_to_one_new_run(
        pair: tuple[AvailabilityRecovery, AvailabilityRecovery]) -> None:
    a, b = pair
    old = await _both_rebuilt(a, b)
    await _statuses(a.store)
    # A Cluster node lost its slots: the marker stands, the location's data is gone.
    await a.store._redis.delete(f"avail:{{{LOC}}}:run", f"avail:{{{LOC}}}:status")
    await _statuses(a.store)
    assert await _pick(a.store, "H1") is None  # found not rebuilt under the run
    assert await _pick(b.store, "H2") is None
    await a.check()
    await b.check()  # b saw the same loss: it adopts a's new run, it does not rotate again
    new = await _marker(a)
    assert new != old
    assert a.store.run == b.store.run == new and a.rebuilt and b.rebuilt
    for _ in range(3):
        await a.check()
        await b.check()
    assert await _marker(a) == new
    assert await _pick(a.store, "H3") is not None


async def test_under_traffic_the_instances_settle_on_one_run(
        pair: tuple[AvailabilityRecovery, AvailabilityRecovery]) -> None:
    """Both instances pick all the time while their checks run; Redis loses its data once.
    The run must settle: then many further checks of both change nothing."""
    a, b = pair
    await _both_rebuilt(a, b)
    await _statuses(a.store)
    stop = asyncio.Event()

    async def traffic(store: RedisAvailability, name: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if await _pick(store, f"{name}{n}") is not None:
                await store.release(LOC, "E1", holder=f"{name}{n}")
                await store.release(LOC, "E2", holder=f"{name}{n}")
                await store.release(LOC, "E3", holder=f"{name}{n}")
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(traffic(store, name)) for store, name in
             ((a.store, "A"), (b.store, "B"), (a.store, "C"), (b.store, "D"))]
    try:
        await a.store._redis.flushall()
        await _statuses(a.store)
        # Settled: both instances rebuilt under the marker's run (counted in checks, not time).
        for _ in range(500):
            await asyncio.gather(a.check(), b.check())
            run = await _marker(a)
            if run and a.store.run == b.store.run == run and a.rebuilt and b.rebuilt:
                break
        else:
            pytest.fail("the instances never settled on one run")
        rebuilds = a.rebuilds + b.rebuilds
        for _ in range(50):  # many more checks of both, under the same traffic
            await asyncio.gather(a.check(), b.check())
        assert await _marker(a) == run, "a new run was started without any data lost"
        assert a.rebuilds + b.rebuilds == rebuilds
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_location_found_not_rebuilt_closes_the_gate_until_the_check_looked(
        pair: tuple[AvailabilityRecovery, AvailabilityRecovery]) -> None:
    """``/ready`` reads ``rebuilt``: it must not say ready while a decision is refused as
    "being rebuilt"; once the check found the run in place again, the gate opens."""
    a, b = pair
    run = await _both_rebuilt(a, b)
    await _statuses(a.store)
    key = f"avail:{{{LOC}}}:run"
    await a.store._redis.delete(key)
    assert await _pick(a.store, "H1") is None
    assert not a.rebuilt and a.store.lost.is_set()
    with pytest.raises(AvailabilityRebuilding):
        await a.store.decision_view(LOC)
    await a.store._redis.set(key, run)  # back (as if another instance had opened it)
    await a.check()
    assert a.rebuilt and await _marker(a) == run and a.rebuilds == 1
    assert await _pick(a.store, "H2") is not None


async def test_a_decision_reads_only_a_location_rebuilt_under_the_current_run(
        pair: tuple[AvailabilityRecovery, ...]) -> None:
    recovery, _ = pair
    store = recovery.store
    await _statuses(store)
    await recovery.check()  # a run joined, the location rebuilt and opened under it
    assert sorted(await store.decision_view(LOC)) == ["E1", "E2", "E3"]
    assert store.ready

    # The location lost its data (a Cluster node that lost some slots): its run is gone.
    await store._redis.delete(f"avail:{{{LOC}}}:run")
    with pytest.raises(AvailabilityRebuilding):
        await store.decision_view(LOC)
    assert not store.ready  # decisions wait until the recovery looked
    # A read that decides nothing still answers (the console, the publisher).
    assert sorted(await store.location(LOC)) == ["E1", "E2", "E3"]
