"""The capacity timeline forgets past promises: the ``capacity-prune`` loop drops, at every
site it is given, what ended more than ``RETENTION`` ago, on both backends. The timeline's
clock and the loop's sleep are the test's."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.reservation_policy.capacity.base import MAX_INTERVAL, CapacityTimeline, Promise
from ocpi_gateway.reservation_policy.capacity.retention import RETENTION, CapacityPruner
from tests.capacity.support import Clock, ac, at
from tests.loops.support import Ticks

SITES = ["LOC-1", "LOC-2"]


def booking(pid: str, start: float, end: float) -> Promise:
    return Promise(pid, at(start), at(end))


async def ids(timeline: CapacityTimeline, site: str) -> list[str]:
    return [p.promise_id for p in await timeline.promises(site, at(-10_000), at(10_000))]


class Runs:
    """A registry listener: the runs finished, one item each (Redis answers take real I/O,
    more than a few passes of the event loop)."""

    def __init__(self) -> None:
        self.finished: asyncio.Queue[str] = asyncio.Queue()

    def ran(self, name: str, at: float) -> None:
        self.finished.put_nowait(name)

    def failed(self, name: str) -> None:
        self.finished.put_nowait(f"{name} failed")


def test_retention_outlasts_every_admissible_promise() -> None:
    # An admitted promise lasts at most MAX_INTERVAL and ends after now, so it starts after
    # now - MAX_INTERVAL: nothing pruned could overlap it (nor change its verdict).
    assert RETENTION >= MAX_INTERVAL


async def test_the_loop_prunes_what_ended_past_the_margin_at_every_site(
        timeline: CapacityTimeline, clock: Clock) -> None:
    for site in SITES:
        await timeline.set_supply(site, [ac("E1"), ac("E2")])
        assert (await timeline.admit(site, booking("early", 0, 60))).ok
        assert (await timeline.admit(site, booking("late", 120, 180))).ok
    ticks = Ticks()
    loops, runs = LoopRegistry(), Runs()
    loops.add_listener(runs)
    pruner = CapacityPruner(timeline, lambda: SITES, clock=clock, interval=600.0, loops=loops,
                            sleep=ticks.sleep)
    margin = RETENTION / timedelta(minutes=1)
    clock.advance(60 + margin - 1)  # "early" ended a minute less than RETENTION ago: kept
    pruner.start()
    try:
        assert await runs.finished.get() == "capacity-prune"
        assert [loop.name for loop in loops.loops()] == ["capacity-prune"]
        for site in SITES:
            assert await ids(timeline, site) == ["early", "late"]
        clock.advance(1)  # ... and now RETENTION ago: dropped
        assert ticks.sleeping == 1
        await ticks.advance(600.0)
        assert await runs.finished.get() == "capacity-prune"
        for site in SITES:
            assert await ids(timeline, site) == ["late"]
        clock.advance(120)
        assert ticks.sleeping == 1
        await ticks.advance(600.0)
        assert await runs.finished.get() == "capacity-prune"
        for site in SITES:
            assert await ids(timeline, site) == []
        assert pruner.pruned == 4
    finally:
        await pruner.stop()
    assert loops.loops() == []


async def test_a_site_not_given_is_left_alone(timeline: CapacityTimeline, clock: Clock) -> None:
    for site in SITES:
        await timeline.set_supply(site, [ac("E1")])
        assert (await timeline.admit(site, booking("b", 0, 60))).ok
    clock.advance(60 + RETENTION / timedelta(minutes=1) + 1)
    pruner = CapacityPruner(timeline, lambda: SITES[:1], clock=clock)
    assert await pruner.prune_all() == 1
    assert await ids(timeline, SITES[0]) == []
    assert await ids(timeline, SITES[1]) == ["b"]
