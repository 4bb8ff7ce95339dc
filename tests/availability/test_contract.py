"""One contract, two implementations: in-process and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ocpi_gateway.reservation_policy.availability import redis as redis_availability
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability, open_availability

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[AvailabilityStore]:
    if request.param == "memory":
        impl: AvailabilityStore = MemoryAvailability()
    elif request.param == "cluster":
        # A 3-master Redis Cluster: every script and transaction must keep to one slot.
        impl = RedisAvailability.from_url(request.getfixturevalue("redis_cluster"))
    else:
        url = request.getfixturevalue("redis_server")
        impl = RedisAvailability.from_url(url)
        await impl._redis.flushall()
    yield impl
    await impl.close()


def later(seconds: float = 600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def _seed(store: AvailabilityStore, loc: str, statuses: dict[str, EvseStatus]) -> None:
    for uid, status in statuses.items():
        await store.set_status(loc, uid, status, NOW)


async def test_set_status_reports_change_only(store: AvailabilityStore) -> None:
    assert await store.set_status("L1", "E1", EvseStatus.AVAILABLE, NOW) is True
    assert await store.set_status("L1", "E1", EvseStatus.AVAILABLE, NOW) is False
    assert await store.set_status("L1", "E1", EvseStatus.CHARGING, NOW) is True
    got = await store.get("L1", "E1")
    assert got is not None and got.status is EvseStatus.CHARGING
    assert await store.get("L1", "nope") is None
    assert await store.get("L-other", "E1") is None


async def test_location_lists_its_evses_only(store: AvailabilityStore) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE, "E2": EvseStatus.OUTOFORDER})
    await _seed(store, "L2", {"E9": EvseStatus.AVAILABLE})
    view = await store.location("L1")
    assert {uid: e.status for uid, e in view.items()} == {
        "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.OUTOFORDER}
    assert view["E1"].is_free and not view["E2"].is_free


async def test_pick_and_hold_in_order_and_skips_unfree(store: AvailabilityStore) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.CHARGING, "E2": EvseStatus.AVAILABLE,
                              "E3": EvseStatus.AVAILABLE})
    assert await store.pick_and_hold("L1", ["E1", "E3", "E2"], holder="r1", until=later()) == "E3"
    held = await store.get("L1", "E3")
    assert held is not None and held.holder == "r1" and not held.is_free
    assert held.last_reserved_at is not None
    assert await store.pick_and_hold("L1", ["E3", "E2"], holder="r2", until=later()) == "E2"
    assert await store.pick_and_hold("L1", ["E1", "E2", "E3"], holder="r3", until=later()) is None


async def test_keep_free_reserve(store: AvailabilityStore) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE,
                              "E3": EvseStatus.AVAILABLE})
    assert await store.pick_and_hold("L1", ["E1"], holder="a", until=later(), keep_free=1) == "E1"
    # two free left; holding one leaves 1 >= keep_free 1
    assert await store.pick_and_hold("L1", ["E2"], holder="b", until=later(), keep_free=1) == "E2"
    # one free left; holding it would leave 0 < 1
    assert await store.pick_and_hold("L1", ["E3"], holder="c", until=later(), keep_free=1) is None
    assert await store.pick_and_hold("L1", ["E3"], holder="c", until=later(), keep_free=0) == "E3"


async def test_release_only_by_holder(store: AvailabilityStore) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE})
    assert await store.pick_and_hold("L1", ["E1"], holder="r1", until=later()) == "E1"
    assert await store.release("L1", "E1", holder="someone-else") is False
    assert (await store.get("L1", "E1")).holder == "r1"  # type: ignore[union-attr]
    assert await store.release("L1", "E1", holder="r1") is True
    got = await store.get("L1", "E1")
    assert got is not None and got.holder is None and got.is_free
    assert (await store.location("L1"))["E1"].is_free
    assert await store.release("L1", "E1", holder="r1") is False


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_expired_hold_is_free_again(kind: str, request: pytest.FixtureRequest) -> None:
    # The stores read the time off an injected clock: the hold's end is passed by moving it,
    # not by sleeping past it (a slow machine would overrun a short hold before the check).
    now = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    if kind == "memory":
        store: AvailabilityStore = MemoryAvailability(clock=clock)
    else:
        store = RedisAvailability.from_url(request.getfixturevalue("redis_server"), clock=clock)
        await store._redis.flushall()
    try:
        await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE})
        end = now[0] + timedelta(seconds=30)
        assert await store.pick_and_hold("L1", ["E1"], holder="r1", until=end) == "E1"
        now[0] += timedelta(seconds=29)
        assert await store.pick_and_hold("L1", ["E1"], holder="r2", until=end) is None
        assert (await store.get("L1", "E1")).holder == "r1"  # type: ignore[union-attr]
        assert (await store.location("L1"))["E1"].holder == "r1"
        assert (await store.initialise_locations({"L1": ["E1"]}, now[0]))["L1"]["E1"].holder \
            == "r1"
        now[0] += timedelta(seconds=1)
        assert (await store.get("L1", "E1")).holder is None  # type: ignore[union-attr]
        assert (await store.location("L1"))["E1"].is_free
        assert (await store.initialise_locations({"L1": ["E1"]}, now[0]))["L1"]["E1"].is_free
        assert await store.pick_and_hold("L1", ["E1"], holder="r2",
                                         until=end + timedelta(minutes=5)) == "E1"
    finally:
        await store.close()


@pytest.mark.parametrize(("evses", "holders"), [(4, 25), (10, 6), (0, 5)])
async def test_concurrent_holders_get_each_evse_once(
    store: AvailabilityStore, evses: int, holders: int
) -> None:
    uids = [f"E{i}" for i in range(evses)]
    await _seed(store, "L1", dict.fromkeys(uids, EvseStatus.AVAILABLE))
    await _seed(store, "L1", {"BUSY": EvseStatus.CHARGING})
    results = await asyncio.gather(*(
        store.pick_and_hold("L1", [*uids, "BUSY"], holder=f"h{i}", until=later())
        for i in range(holders)))
    won = [r for r in results if r is not None]
    assert len(won) == min(evses, holders)
    assert len(set(won)) == len(won)  # no EVSE held twice
    view = await store.location("L1")
    holders_seen = {e.holder for e in view.values() if e.holder is not None}
    assert len(holders_seen) == len(won)


async def test_initialise_locations_records_unknown_evses_and_reads_back(
    store: AvailabilityStore,
) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE, "E3": EvseStatus.CHARGING})
    assert await store.pick_and_hold("L1", ["E1"], holder="r1", until=later()) == "E1"
    at = NOW + timedelta(hours=1)
    found = await store.initialise_locations({"L1": ["E1", "E2"], "L2": ["E9"], "L3": []}, at)
    assert set(found) == {"L1", "L2", "L3"}
    # Known EVSEs keep status, time and hold; an EVSE known but not listed is still there.
    assert {uid: (e.status, e.updated_at, e.holder) for uid, e in found["L1"].items()} == {
        "E1": (EvseStatus.AVAILABLE, NOW, "r1"), "E2": (EvseStatus.UNKNOWN, at, None),
        "E3": (EvseStatus.CHARGING, NOW, None)}
    assert {uid: (e.status, e.updated_at) for uid, e in found["L2"].items()} == {
        "E9": (EvseStatus.UNKNOWN, at)}
    assert found["L3"] == {}
    for location_id, view in found.items():
        assert view == await store.location(location_id)
    assert await store.locations(["L3", "L1", "L2"]) == found
    # Once known, an EVSE is not initialised again: its later status stays.
    assert await store.set_status("L2", "E9", EvseStatus.AVAILABLE, NOW) is True
    again = await store.initialise_locations({"L2": ["E9"]}, at + timedelta(hours=1))
    assert (again["L2"]["E9"].status, again["L2"]["E9"].updated_at) == (
        EvseStatus.AVAILABLE, NOW)


async def test_locations_read_together_past_one_pipeline(
    store: AvailabilityStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three pipelines of three on Redis (on a cluster, locations of every node in each).
    monkeypatch.setattr(redis_availability, "PIPELINE_LOCATIONS", 3)
    await _seed(store, "L4", {"A": EvseStatus.OUTOFORDER})
    evses = {f"L{i}": ["A", "B"] for i in range(8)}
    found = await store.initialise_locations(evses, NOW)
    assert list(found) == list(evses)
    assert {loc: {uid: e.status for uid, e in view.items()} for loc, view in found.items()} == {
        loc: {"A": EvseStatus.OUTOFORDER if loc == "L4" else EvseStatus.UNKNOWN,
              "B": EvseStatus.UNKNOWN} for loc in evses}
    assert found["L7"] == await store.location("L7")
    assert await store.locations(list(evses)) == found
    assert await store.locations([]) == {}


async def test_status_of_other_location_is_untouched_by_hold(store: AvailabilityStore) -> None:
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE})
    await _seed(store, "L2", {"E1": EvseStatus.AVAILABLE})
    assert await store.pick_and_hold("L1", ["E1"], holder="r", until=later()) == "E1"
    assert (await store.get("L2", "E1")).is_free  # type: ignore[union-attr]


async def test_hold_listener_is_told(store: AvailabilityStore) -> None:
    seen: list[tuple[str, str]] = []
    store.add_hold_listener(lambda loc, uid: seen.append((loc, uid)))  # type: ignore[attr-defined]
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE})
    await store.pick_and_hold("L1", ["E1"], holder="r", until=later())
    await store.release("L1", "E1", holder="r")
    assert seen == [("L1", "E1"), ("L1", "E1")]


async def test_ping(store: AvailabilityStore) -> None:
    assert await store.ping() is True


async def test_redis_keys_are_hash_tagged(redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = RedisAvailability.from_url(redis_url)
    await store.set_status("LOC-7", "E1", EvseStatus.AVAILABLE, NOW)
    await store.pick_and_hold("LOC-7", ["E1"], holder="r", until=later())
    await store.initialise_locations({"LOC-7": ["E1", "E2"]}, NOW)
    client = aioredis.from_url(redis_url)
    keys = [k.decode() for k in await client.keys("*")]
    await client.aclose()
    await store.close()
    assert keys and all("{LOC-7}" in k for k in keys)


async def test_open_availability_picks_backend(redis_url: str) -> None:
    memory = open_availability(None)
    assert isinstance(memory, MemoryAvailability)
    remote = open_availability(redis_url)
    assert isinstance(remote, RedisAvailability) and await remote.ping()
    await remote.close()


async def test_a_closed_in_process_store_forgets_statuses_and_holds() -> None:
    store = MemoryAvailability()
    await _seed(store, "L1", {"E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE})
    assert await store.pick_and_hold("L1", ["E1"], holder="r1", until=later()) == "E1"
    await store.close()
    assert await store.location("L1") == {}
    assert await store.get("L1", "E1") is None
