"""The length buckets that index promises by start (``base.bucket_of``): every read finds the
promises of every bucket, a promise changing length moves between buckets, and one long
promise widens the reads of its own bucket only."""

from __future__ import annotations

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    BUCKET_BASE_MS,
    BUCKETS,
    CapacityTimeline,
    Verdict,
    bucket_of,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity, keys
from tests.capacity.support import Clock, ac, at
from tests.capacity.test_contract import booking, bound

L = "LOC-IX"
MINUTE = 60_000


@pytest.mark.parametrize(("length_ms", "expected"), [
    (0, 0), (1, 0), (BUCKET_BASE_MS, 0), (BUCKET_BASE_MS + 1, 1), (2 * BUCKET_BASE_MS, 1),
    (2 * BUCKET_BASE_MS + 1, 2), (4 * BUCKET_BASE_MS, 2), (4 * BUCKET_BASE_MS + 1, 3),
    (32 * BUCKET_BASE_MS, 5), (32 * BUCKET_BASE_MS + 1, 6), (24 * 60 * MINUTE, 6),
    (10 * 24 * 60 * MINUTE, 6)])
def test_bucket_of_doubles_from_half_an_hour_and_the_last_takes_the_rest(
        length_ms: int, expected: int) -> None:
    assert BUCKETS == 7
    assert bucket_of(length_ms) == expected


async def test_reads_find_promises_of_every_length(timeline: CapacityTimeline) -> None:
    supply = [ac(f"E{n}") for n in range(1, 8)]
    await timeline.set_supply(L, supply)
    # 20 min, 50 min, 100 min, 3 h, 7 h, 15 h and 24 h: one per bucket, all from minute 0.
    lengths = [20, 50, 100, 180, 420, 900, 1440]
    assert sorted(bucket_of(n * MINUTE) for n in lengths) == list(range(BUCKETS))
    for n in lengths:
        promise = booking(f"b{n}", 0, n) if n != 1440 else bound("r", "E1", 0, n)
        assert (await timeline.admit(L, promise)).ok
    found = await timeline.promises(L, at(10), at(11))
    assert [p.promise_id for p in found] == sorted(p.promise_id for p in found)
    assert {p.promise_id for p in found} == {f"b{n}" for n in lengths[:-1]} | {"r"}
    # Each is counted by admission and by spare while it is in force, and only then.
    for t in (1, 21, 51, 101, 181, 421, 901):
        left = len(supply) - sum(1 for n in lengths if n > t)
        spare = await timeline.spare(L, Need(), at(t), at(t + 1))
        assert [s.spare for s in spare] == [left], t
        verdict = (await timeline.admit(L, booking("x", t, t + 1))).verdict
        assert verdict is (Verdict.ADMITTED if left else Verdict.FULL), t
        await timeline.release(L, "x")
    # The bound one in the last bucket still holds its EVSE from inside.
    taken = await timeline.admit(L, bound("r2", "E1", 1400, 1410))
    assert taken.verdict is Verdict.EVSE_TAKEN


async def test_a_promise_changing_length_moves_between_buckets(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("b", 0, 20))).ok
    assert (await timeline.amend(L, booking("b", 0, 600))).ok
    assert [p.promise_id for p in await timeline.promises(L, at(500), at(510))] == ["b"]
    assert (await timeline.admit(L, booking("x", 500, 510))).verdict is Verdict.FULL
    assert [p.promise_id for p in await timeline.promises(L, at(0), at(700))] == ["b"]
    assert (await timeline.amend(L, booking("b", 0, 20))).ok  # back: the long one is gone
    assert (await timeline.admit(L, booking("x", 500, 510))).ok
    assert await timeline.release(L, "b")
    assert await timeline.release(L, "x")
    assert await timeline.promises(L, at(0), at(700)) == []
    assert (await timeline.admit(L, booking("y", 10, 15))).ok


async def test_the_longest_of_a_bucket_never_narrows(timeline: CapacityTimeline) -> None:
    # 400 and 250 min are both in the 4-8 h bucket: the shorter one, admitted or restored
    # after, keeps the reads reaching back 400 min.
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert bucket_of(400 * MINUTE) == bucket_of(250 * MINUTE)
    assert (await timeline.admit(L, booking("long", 0, 400))).ok
    assert (await timeline.admit(L, booking("mid", 1000, 1250))).ok
    assert await timeline.restore(L, [ac("E1"), ac("E2")], [booking("r", 2000, 2250)]) == 1
    assert [p.promise_id for p in await timeline.promises(L, at(390), at(395))] == ["long"]
    assert (await timeline.admit(L, booking("a", 390, 395))).ok
    assert (await timeline.admit(L, booking("b", 390, 395))).verdict is Verdict.FULL


async def test_prune_and_rebuild_reach_every_bucket(timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1"), ac("E2")])
    assert await timeline.rebuild(L, [booking("s", 0, 20), booking("l", 0, 600),
                                      booking("later", 900, 1500)]) == 3
    assert [p.promise_id for p in await timeline.promises(L, at(550), at(560))] == ["l"]
    assert (await timeline.admit(L, booking("x", 1400, 1410))).ok
    assert (await timeline.admit(L, booking("y", 1400, 1410))).verdict is Verdict.FULL
    assert await timeline.prune(L, at(700)) == 2
    assert sorted(p.promise_id for p in await timeline.promises(L, at(0), at(2000))) == [
        "later", "x"]
    # A rebuild drops what every bucket held, and the longest with them.
    assert await timeline.rebuild(L, [booking("t", 1400, 1410)]) == 1
    assert (await timeline.admit(L, booking("y", 1400, 1410))).ok
    assert (await timeline.admit(L, booking("z", 1400, 1410))).verdict is Verdict.FULL


async def test_redis_keeps_each_promise_in_its_bucket(redis_server: str, clock: Clock
                                                      ) -> None:
    timeline = RedisCapacity.from_url(redis_server, clock=clock)
    client = timeline._redis
    try:
        await client.flushall()
        await timeline.set_supply(L, [ac("E1"), ac("E2")])
        assert (await timeline.admit(L, booking("s", 0, 10))).ok
        assert (await timeline.admit(L, booking("l", 0, 600))).ok
        k = keys(L)
        counts = [await client.zcard(k[f"z{b}"]) for b in range(BUCKETS)]
        assert counts == [1, 0, 0, 0, 0, 1, 0]  # 10 min; 10 h (8 h to 16 h)
        site = await client.hgetall(k["site"])
        assert (site[b"l1"], site[b"l6"]) == (str(10 * MINUTE).encode(),
                                              str(600 * MINUTE).encode())
        assert await timeline.release(L, "l")
        assert await client.zcard(k["z5"]) == 0
    finally:
        await timeline.close()


async def test_a_restore_indexes_what_a_site_of_the_old_layout_held(redis_server: str,
                                                                   clock: Clock) -> None:
    # Before the buckets, every member sat in one sorted set (cap:{L}:z) no script reads
    # now: admission no longer sees it, and the restore at the first touch in a process must
    # put it back in its bucket though its id is held.
    timeline = RedisCapacity.from_url(redis_server, clock=clock)
    client = timeline._redis
    try:
        await client.flushall()
        await timeline.set_supply(L, [ac("E1")])
        held = booking("b1", 0, 60)
        assert (await timeline.admit(L, held)).ok
        k = keys(L)
        member = (await client.zrange(k["z1"], 0, -1))[0]
        await client.zrem(k["z1"], member)
        await client.zadd("cap:{" + L + "}:z", {member: ms(held.start)})
        assert (await timeline.admit(L, booking("x", 10, 20))).ok  # unseen: overbooked
        assert await timeline.release(L, "x")
        changed = booking("b1", 100, 160)  # the store's copy differs: the held one stands
        assert await timeline.restore(L, [ac("E1")], [changed]) == 1
        assert await timeline.get(L, "b1") == held
        assert (await timeline.admit(L, booking("x", 10, 20))).verdict is Verdict.FULL
        assert await timeline.restore(L, [ac("E1")], [changed]) == 0  # indexed now
        assert await client.zcard(k["z1"]) == 1
    finally:
        await timeline.close()


async def test_a_promise_ending_where_a_window_starts_is_not_in_it(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("E1")])
    assert (await timeline.admit(L, booking("before", 0, 60))).ok
    assert (await timeline.admit(L, booking("after", 120, 180))).ok
    assert [p.promise_id for p in await timeline.promises(L, at(60), at(120))] == []
    assert [p.promise_id for p in await timeline.promises(L, at(59), at(121))] == [
        "before", "after"]
