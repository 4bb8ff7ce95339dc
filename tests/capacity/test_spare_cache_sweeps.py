"""What the kept spare profile sweeps (``SpareCache``): the whole window once, then only the
spans the change log names, joined where they meet, a window's extension, and everything
again when the log cannot say. Seen through a timeline that records each sweep it is asked
for; the answers themselves are compared with the timeline in test_spare_cache.py."""

from __future__ import annotations

from datetime import datetime

from ocpi_gateway.reservation_policy.capacity.base import (
    Promise,
    SpareSegment,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.spare_cache import MAX_SPANS, SpareCache
from tests.capacity.support import Clock, ac, at

L = "LOC-W"


class Recording(MemoryCapacity):
    def __init__(self) -> None:
        super().__init__(clock=Clock())
        self.sweeps: list[tuple[int, int]] = []
        """(from, to) in minutes from T0 of each spare asked."""

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        self.sweeps.append(((ms(start) - ms(at(0))) // 60_000, (ms(end) - ms(at(0))) // 60_000))
        return await super().spare(location_id, need, start, end, reserve=reserve)

    def taken(self) -> list[tuple[int, int]]:
        out, self.sweeps = self.sweeps, []
        return out


async def site() -> tuple[Recording, SpareCache]:
    timeline = Recording()
    await timeline.set_supply(L, [ac("A1"), ac("A2")])
    return timeline, SpareCache(timeline)


async def read(cache: SpareCache, a: float, b: float) -> list[SpareSegment]:
    return await cache.spare(L, Need(), at(a), at(b))


async def test_a_change_sweeps_its_span_only_and_a_read_after_nothing() -> None:
    timeline, cache = await site()
    await read(cache, 0, 600)
    assert timeline.taken() == [(0, 600)]
    await read(cache, 0, 600)
    await read(cache, 100, 200)  # inside the kept window
    assert timeline.taken() == []
    assert (await timeline.admit(L, Promise("p", at(100), at(160)))).ok
    await read(cache, 0, 600)
    assert timeline.taken() == [(100, 160)]
    await read(cache, 0, 600)  # the version was kept with the profile
    assert timeline.taken() == []


async def test_changes_that_meet_are_swept_together_and_outside_the_window_not_at_all(
        ) -> None:
    timeline, cache = await site()
    await read(cache, 0, 600)
    timeline.taken()
    for pid, a, b in (("p", 100, 160), ("q", 160, 200), ("r", 300, 320), ("s", 600, 700),
                      ("t", 650, 700)):
        assert (await timeline.admit(L, Promise(pid, at(a), at(b)))).ok
    await read(cache, 0, 600)
    # 100..160 and 160..200 touch: one sweep; 600..700 begins at the window's end: none.
    assert timeline.taken() == [(100, 200), (300, 320)]


async def test_a_change_inside_an_earlier_one_is_swept_with_it() -> None:
    timeline, cache = await site()
    for pid, a, b in (("a", 0, 10), ("long", 50, 120)):
        assert (await timeline.admit(L, Promise(pid, at(a), at(b)))).ok
    await read(cache, 0, 600)
    timeline.taken()
    assert await timeline.release(L, "a")
    assert await timeline.release(L, "long")
    assert (await timeline.admit(L, Promise("short", at(60), at(70)))).ok
    await read(cache, 0, 600)
    assert timeline.taken() == [(0, 10), (50, 120)]


async def test_a_longer_window_sweeps_only_its_extension_and_an_earlier_one_all() -> None:
    timeline, cache = await site()
    await read(cache, 0, 600)
    await read(cache, 0, 900)
    assert timeline.taken() == [(0, 600), (600, 900)]
    await read(cache, 300, 900)  # from inside: kept
    await read(cache, 0, 900)  # from the kept start itself: kept
    assert timeline.taken() == []
    await read(cache, -60, 900)  # before the kept start: swept again
    assert timeline.taken() == [(-60, 900)]


async def test_an_unknown_change_or_too_many_sweep_the_whole_window() -> None:
    timeline, cache = await site()
    await read(cache, 0, 600)
    await timeline.set_supply(L, [ac("A1")])  # a supply change: every instant may move
    await read(cache, 0, 600)
    assert timeline.taken() == [(0, 600), (0, 600)]
    # As many changes as MAX_SPANS are spliced in one by one; one more sweeps it all.
    for n in range(MAX_SPANS):
        assert (await timeline.admit(L, Promise(f"a{n}", at(2 * n), at(2 * n + 1)))).ok
    await read(cache, 0, 600)
    assert timeline.taken() == [(2 * n, 2 * n + 1) for n in range(MAX_SPANS)]
    for n in range(MAX_SPANS):
        assert await timeline.release(L, f"a{n}")
    assert (await timeline.admit(L, Promise("b", at(300), at(301)))).ok  # the 65th
    await read(cache, 0, 600)
    assert timeline.taken() == [(0, 600)]


async def test_the_least_recently_read_profile_is_dropped_first() -> None:
    timeline = Recording()
    cache = SpareCache(timeline, max_profiles=2)
    for site_id in ("S1", "S2", "S3"):
        await timeline.set_supply(site_id, [ac("A1")])

    async def read_site(site_id: str) -> None:
        await cache.spare(site_id, Need(), at(0), at(60))

    await read_site("S1")
    await read_site("S2")  # two kept: both stay
    await read_site("S1")
    assert timeline.taken() == [(0, 60), (0, 60)]
    await read_site("S3")  # S2 was read longest ago: dropped
    await read_site("S1")
    assert timeline.taken() == [(0, 60)]
    await read_site("S2")
    assert timeline.taken() == [(0, 60)]
