"""What a timeline reads back of its classes (on Redis from its own hashes): the classes of a
FULL answer and of ``spare``, an unknown power type (stored as "-" on Redis) among them."""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Promise, Verdict
from ocpi_gateway.reservation_policy.capacity.classes import EvseClass, Need
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity, open_capacity
from tests.capacity.support import CCS, T2, Clock, at, evse


async def test_classes_with_and_without_a_power_type_read_back(
        timeline: CapacityTimeline) -> None:
    t2 = Need(frozenset({T2}))
    for site, power_type in (("LOC-U", ""), ("LOC-A", "AC")):
        await timeline.set_supply(site, [evse("T1", (T2, power_type, 22000)),
                                         evse("D1", (CCS, "DC", 50000))])
        assert (await timeline.admit(site, Promise("p", at(0), at(60), t2))).ok
        full = await timeline.admit(site, Promise("p2", at(0), at(60), t2))
        assert full.verdict is Verdict.FULL
        assert full.classes == (EvseClass(T2, power_type, 22000),), power_type
        assert [s.spare for s in await timeline.spare(site, t2, at(0), at(60))] == [0]
        assert [s.spare for s in await timeline.spare(site, Need(), at(0), at(60))] == [1]


async def test_a_promise_bound_to_an_evse_gone_from_the_supply_counts_nowhere(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply("LOC-G", [evse("A1", (T2, "AC", 22000)),
                                        evse("A2", (T2, "AC", 22000))])
    assert (await timeline.admit("LOC-G", Promise("p", at(0), at(60), evse_uid="A2"))).ok
    await timeline.set_supply("LOC-G", [evse("A1", (T2, "AC", 22000))])
    assert [s.spare for s in await timeline.spare("LOC-G", Need(), at(0), at(60))] == [1]
    assert (await timeline.admit("LOC-G", Promise("q", at(0), at(60)))).ok


async def test_a_site_without_supply_has_no_spare(timeline: CapacityTimeline) -> None:
    assert [(s.start, s.end, s.spare) for s in await timeline.spare(
        "LOC-N", Need(), at(0), at(60))] == [(at(0), at(60), 0)]
    assert await timeline.spare("LOC-N", Need(), at(60), at(60)) == []


async def test_a_promise_ending_now_is_over(timeline: CapacityTimeline, clock: Clock) -> None:
    await timeline.set_supply("LOC-P", [evse("A1", (T2, "AC", 22000))])
    clock.now = at(60)
    assert (await timeline.admit("LOC-P", Promise("p", at(0), at(60)))).verdict \
        is Verdict.INVALID
    assert (await timeline.admit("LOC-P", Promise("q", at(0), at(61)))).ok


async def test_closing_the_redis_timeline_closes_its_connections(redis_server: str) -> None:
    timeline = RedisCapacity.from_url(redis_server)
    await timeline.changes("LOC-C", None)  # a connection made
    pool = timeline._redis.connection_pool
    made = [*pool._available_connections, *pool._in_use_connections]
    assert made and any(c.is_connected for c in made)
    await timeline.close()
    assert not any(c.is_connected for c in made)


async def test_redis_when_configured_else_in_process(redis_server: str) -> None:
    assert isinstance(open_capacity(None), MemoryCapacity)
    redis = open_capacity(redis_server)
    try:
        assert isinstance(redis, RedisCapacity)
    finally:
        await redis.close()
