"""The spare profile kept for calendars (``SpareCache``) against the timeline itself, on both
backends: seeded streams of admissions, amendments, releases, supply changes and prunes, some
by a second writer (on Redis another client, as another instance would), and after every step
the cache's answer for a random window equals the timeline's own sweep. The change log
(``changes``) says what changed and when it cannot."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    CHANGE_LOG,
    CapacityTimeline,
    Promise,
    SpareSegment,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity, keys
from ocpi_gateway.reservation_policy.capacity.spare_cache import SpareCache, splice
from tests.capacity.support import Clock, ac, at, dc
from tests.capacity.test_property import random_need, random_supply

L = "LOC-S"


@pytest.fixture
async def writer(timeline: CapacityTimeline, request: pytest.FixtureRequest, clock: Clock
                 ) -> AsyncIterator[CapacityTimeline]:
    """A second writer of the same timeline: another client of the same Redis."""
    if not isinstance(timeline, RedisCapacity):
        yield timeline
        return
    other = RedisCapacity.from_url(request.getfixturevalue("redis_server"), clock=clock)
    yield other
    await other.close()


def merged(segments: list[SpareSegment]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for s in segments:
        a, b = ms(s.start), ms(s.end)
        if out and out[-1][1] == a and out[-1][2] == s.spare:
            out[-1] = (out[-1][0], b, s.spare)
        else:
            out.append((a, b, s.spare))
    return out


def free_of(found: list[SpareSegment] | list[tuple[datetime, datetime]]
            ) -> list[tuple[int, int]]:
    """Periods of spare >= 1 (or ``SpareCache.free``'s periods), adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for item in found:
        if isinstance(item, SpareSegment):
            if item.spare < 1:
                continue
            item = (item.start, item.end)
        a, b = ms(item[0]), ms(item[1])
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def pointwise(segments: list[tuple[int, int, int]]) -> dict[int, int]:
    return {t: n for a, b, n in segments for t in range(a, b)}


@pytest.mark.parametrize("seed", range(40))
def test_splice_equals_replacing_each_instant(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, 40), rng.randint(0, 8)))
    bounds = [0, *cuts, 40]
    segments: list[tuple[int, int, int]] = []
    for a, b in itertools.pairwise(bounds):
        value = rng.choice([v for v in range(3) if not segments or v != segments[-1][2]])
        segments.append((a, b, value))
    start = rng.randrange(0, 40)
    end = rng.randrange(start + 1, 46)  # may reach past the profile (an extension)
    fresh_cuts = sorted({start, end, *rng.sample(range(start, end), min(3, end - start))})
    fresh = [(a, b, rng.randrange(3)) for a, b in itertools.pairwise(fresh_cuts)]
    out = splice(segments, fresh, start, end)
    want = pointwise(segments) | pointwise(fresh)
    assert pointwise(out) == want
    assert all(x[1] == y[0] and x[2] != y[2] for x, y in itertools.pairwise(out))
    assert out[0][0] == 0 and out[-1][1] == max(40, end)
    assert all(a < b for a, b, _ in out)  # no empty segment left at a joint


def test_splice_replaces_a_range_and_merges_equal_neighbours() -> None:
    segments = [(0, 10, 2), (10, 20, 1), (20, 30, 2)]
    assert splice(segments, [(5, 25, 2)], 5, 25) == [(0, 30, 2)]
    assert splice(segments, [(12, 15, 0)], 12, 15) == [
        (0, 10, 2), (10, 12, 1), (12, 15, 0), (15, 20, 1), (20, 30, 2)]
    assert splice(segments, [(30, 40, 2)], 30, 40) == [(0, 10, 2), (10, 20, 1), (20, 40, 2)]
    assert splice(segments, [(10, 20, 3)], 10, 20) == [(0, 10, 2), (10, 20, 3), (20, 30, 2)]


async def test_the_change_log_says_what_changed_and_when_it_cannot(
        timeline: CapacityTimeline) -> None:
    untouched = await timeline.changes(L, 0)  # a site nothing was written to: version 0
    assert (untouched.version, untouched.spans) == (0, ())
    await timeline.set_supply(L, [ac("A1"), ac("A2")])
    start = await timeline.changes(L, None)
    assert start.spans is None
    same = await timeline.changes(L, start.version)
    assert (same.version, same.spans) == (start.version, ())
    p = Promise("p1", at(60), at(120))
    assert (await timeline.admit(L, p)).ok
    await timeline.release(L, "p1")
    after = await timeline.changes(L, start.version)
    assert after.version == start.version + 2
    assert after.spans == ((ms(at(60)), ms(at(120))),) * 2
    await timeline.set_supply(L, [ac("A1")])
    assert (await timeline.changes(L, after.version)).spans is None
    mark = (await timeline.changes(L, None)).version
    for n in range(CHANGE_LOG + 1):
        assert (await timeline.admit(L, Promise(f"q{n}", at(n), at(n + 1)))).ok
    assert (await timeline.changes(L, mark)).spans is None  # the log no longer reaches back
    assert (await timeline.changes(L, mark + 1)).spans is not None


@pytest.mark.parametrize("seed", range(6))
async def test_the_cache_answers_what_the_timeline_answers(
        timeline: CapacityTimeline, writer: CapacityTimeline, clock: Clock, seed: int) -> None:
    rng = random.Random(seed)
    cache = SpareCache(timeline)
    await timeline.set_supply(L, random_supply(rng))
    needs = [random_need(rng) for _ in range(3)]
    live: list[str] = []
    for step in range(120):
        who = rng.choice([timeline, writer])
        roll = rng.random()
        if roll < 0.5 or not live:
            start = at(rng.randrange(0, 24 * 60, 15))
            pid = f"p{step}"
            # Some bound (to an EVSE the site may no longer have after a supply change).
            bound = rng.choice(["E0", "E1", "A1", "D1"]) if rng.random() < 0.2 else None
            promise = Promise(pid, start, start + timedelta(minutes=rng.choice([15, 45, 120])),
                              rng.choice(needs), evse_uid=bound)
            if (await who.admit(L, promise, reserve=rng.choice([0, 1]))).ok:
                live.append(pid)
        elif roll < 0.65:
            pid = rng.choice(live)
            start = at(rng.randrange(0, 24 * 60, 15))
            await who.amend(L, Promise(pid, start, start + timedelta(minutes=30),
                                       rng.choice(needs)))
        elif roll < 0.9:
            pid = live.pop(rng.randrange(len(live)))
            await who.release(L, pid)
        elif roll < 0.95:
            await who.set_supply(L, random_supply(rng) if rng.random() < 0.5
                                 else [ac("A1"), dc("D1")])
        else:
            clock.now = at(rng.randrange(0, 60))
            await who.prune(L, clock.now)
        begin = at(rng.randrange(0, 12 * 60, 15))
        end = begin + timedelta(hours=rng.choice([1, 6, 14]))
        need, reserve = rng.choice(needs), rng.choice([0, 1])
        kept = await cache.spare(L, need, begin, end, reserve=reserve)
        swept = await timeline.spare(L, need, begin, end, reserve=reserve)
        assert merged(kept) == merged(swept), f"step {step}"
        assert free_of(await cache.free(L, need, begin, end, reserve=reserve)) \
            == free_of(swept), f"step {step}"


async def test_redis_spare_reads_the_class_table_again_only_when_the_supply_changed(
        redis_server: str, clock: Clock) -> None:
    reader = RedisCapacity.from_url(redis_server, clock=clock)
    other = RedisCapacity.from_url(redis_server, clock=clock)
    try:
        await reader._redis.flushall()
        await other.set_supply(L, [ac("A1"), ac("A2")])
        assert (await other.admit(L, Promise("b", at(0), at(60), evse_uid="A1"))).ok
        window = (Need(), at(0), at(60))
        assert [s.spare for s in await reader.spare(L, *window)] == [1]
        # Kept: the EVSE masks deleted behind its back do not reach it (same digest).
        await reader._redis.delete(keys(L)["evse"])
        assert [s.spare for s in await reader.spare(L, *window)] == [1]
        # Another supply (another digest) is read again, on any instance ...
        await other.set_supply(L, [ac("A1"), ac("A2"), ac("A3")])
        assert [s.spare for s in await reader.spare(L, *window)] == [2]
        # ... and so is the supply a restore puts back after Redis lost everything.
        await reader._redis.flushall()
        await other.restore(L, [ac("A1"), ac("A2")], [])
        assert [s.spare for s in await reader.spare(L, *window)] == [2]
        await reader._redis.flushall()
        assert [s.spare for s in await reader.spare(L, *window)] == [0]  # no supply
    finally:
        await reader.close()
        await other.close()


async def test_a_change_inside_an_earlier_one_keeps_the_earlier_ones_whole_span(
        timeline: CapacityTimeline) -> None:
    # Three changes between reads: "a" released (0..10), "long" released (50..120) and a
    # short one admitted inside it (60..70). All of 0..10 and 50..120 is swept again.
    cache = SpareCache(timeline)
    await timeline.set_supply(L, [ac("A1")])
    assert (await timeline.admit(L, Promise("a", at(0), at(10)))).ok
    assert (await timeline.admit(L, Promise("long", at(50), at(120)))).ok
    window = (Need(), at(0), at(180))
    assert [s.spare for s in await cache.spare(L, *window)] == [0, 1, 0, 1]
    assert await timeline.release(L, "a")
    assert await timeline.release(L, "long")
    assert (await timeline.admit(L, Promise("short", at(60), at(70)))).ok
    assert merged(await cache.spare(L, *window)) == [
        (ms(at(0)), ms(at(60)), 1), (ms(at(60)), ms(at(70)), 0), (ms(at(70)), ms(at(180)), 1)]
    assert free_of(await cache.free(L, *window)) == [(ms(at(0)), ms(at(60))),
                                                     (ms(at(70)), ms(at(180)))]


async def test_an_empty_window_has_no_segment_and_no_free_period(
        timeline: CapacityTimeline) -> None:
    cache = SpareCache(timeline)
    await timeline.set_supply(L, [ac("A1")])
    assert len(await cache.spare(L, Need(), at(0), at(60))) == 1  # a profile is kept
    for moment in (at(0), at(30), at(60)):
        assert await cache.spare(L, Need(), moment, moment) == []
        assert await cache.free(L, Need(), moment, moment) == []
