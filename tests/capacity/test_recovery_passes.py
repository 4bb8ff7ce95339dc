"""The capacity rebuild rides on the availability rebuild, and its own loop retries a pass
that failed: the two never run a pass at the same time (a slow pass on a loaded machine was
doubled by the loop), and ``rebuilt`` stays false until the pass that runs has finished."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.capacity.recovery import CapacityRecovery
from ocpi_gateway.reservation_policy.models import EvseCandidate


class _Capacity:
    def __init__(self) -> None:
        self.restored: list[str] = []

    def applies(self, location_id: str) -> bool:
        return True

    async def restore(self, location_id: str, candidates: Sequence[EvseCandidate]) -> int:
        self.restored.append(location_id)
        return 1


async def test_the_retry_loop_does_not_start_a_second_pass_while_one_runs() -> None:
    capacity = _Capacity()
    entered, release = asyncio.Event(), asyncio.Event()
    passes = 0

    async def sites() -> list[tuple[str, Sequence[EvseCandidate]]]:
        nonlocal passes
        passes += 1
        entered.set()
        await release.wait()
        return [("L1", [])]

    recovery = CapacityRecovery(cast(ReservationCapacity, capacity), sites,
                                retry_interval=3600)
    first = asyncio.create_task(recovery.rebuild_all())
    await entered.wait()
    assert not recovery.rebuilt
    # The loop's run while the pass is under way (as its timer would fire).
    retry = asyncio.create_task(recovery.loop.run_once())
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    assert await first == 1 and await retry
    assert passes == 1 and capacity.restored == ["L1"]
    assert recovery.rebuilt and recovery.rebuilds == 1


async def test_a_failed_pass_is_run_again_by_the_loop() -> None:
    capacity = _Capacity()
    fail = True

    async def sites() -> list[tuple[str, Sequence[EvseCandidate]]]:
        if fail:
            raise ConnectionError("store away")
        return [("L1", [])]

    recovery = CapacityRecovery(cast(ReservationCapacity, capacity), sites, retry_interval=3600)
    try:
        await recovery.rebuild_all()
    except ConnectionError:
        pass
    assert not recovery.rebuilt
    fail = False
    assert await recovery.loop.run_once()
    assert recovery.rebuilt and capacity.restored == ["L1"]


async def test_a_fresh_recovery_is_rebuilt_and_its_loop_waits_an_interval() -> None:
    capacity = _Capacity()
    fail = True
    passes = 0

    async def sites() -> list[tuple[str, Sequence[EvseCandidate]]]:
        nonlocal passes
        passes += 1
        if fail:
            raise ConnectionError("store away")
        return [("L1", [])]

    recovery = CapacityRecovery(cast(ReservationCapacity, capacity), sites, retry_interval=3600)
    assert recovery.rebuilt and recovery.rebuilds == 0  # nothing lost yet: ready
    assert await recovery.loop.run_once()
    assert passes == 0  # nothing to retry
    try:
        await recovery.rebuild_all()
    except ConnectionError:
        pass
    assert (recovery.rebuilt, recovery.rebuilds, passes) == (False, 1, 1)
    # Started after the failed pass (as the gateway starts it after its own first pass): the
    # first retry waits an interval rather than running at once.
    fail = False
    recovery.start()
    try:
        assert recovery.loop.running
        for _ in range(20):
            await asyncio.sleep(0)
        assert passes == 1 and not recovery.rebuilt
    finally:
        await recovery.stop()
    assert not recovery.loop.running
    assert await recovery.rebuild_all() == 1
    assert (recovery.rebuilt, recovery.rebuilds) == (True, 2)


async def test_sites_where_nobody_may_book_are_skipped_not_the_rest() -> None:
    class Some(_Capacity):
        def applies(self, location_id: str) -> bool:
            return location_id != "NOBOOK"

    capacity = Some()

    async def sites() -> list[tuple[str, Sequence[EvseCandidate]]]:
        return [("NOBOOK", []), ("L1", []), ("L2", [])]

    recovery = CapacityRecovery(cast(ReservationCapacity, capacity), sites, retry_interval=3600)
    assert await recovery.rebuild_all() == 2
    assert capacity.restored == ["L1", "L2"]
