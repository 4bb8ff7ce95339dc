"""OCPP reservation ids taken from the stored counter in blocks: unique per charger across
instances, restarts and the wrap at 2^31 - 1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ocpi_gateway.domain.store import Document
from ocpi_gateway.reservation_policy.ocpp_ids import COLLECTION, OcppReservationIds
from ocpi_gateway.store.sqlite import SqliteStore

LARGEST = 2_147_483_647
"""OCPP's integers are signed 32-bit."""


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(":memory:")
    yield s
    await s.close()


async def take(ids: OcppReservationIds, cp: str, n: int) -> list[int]:
    return [await ids.next(cp) for _ in range(n)]


async def test_one_instance_counts_on_across_blocks(store: SqliteStore) -> None:
    ids = OcppReservationIds(store, block=4)
    assert await take(ids, "CP1", 10) == list(range(1, 11))
    assert await take(ids, "CP2", 3) == [1, 2, 3]


async def test_two_instances_never_share_an_id(store: SqliteStore) -> None:
    a, b = OcppReservationIds(store, block=4), OcppReservationIds(store, block=4)
    got: list[int] = []
    for _ in range(6):
        got += [await a.next("CP1"), await b.next("CP1")]
    assert len(set(got)) == len(got) == 12
    assert set(got) <= set(range(1, 25))


async def test_a_restarted_instance_starts_after_the_block_taken_before(
        store: SqliteStore) -> None:
    before = await take(OcppReservationIds(store, block=16), "CP1", 3)
    after = await take(OcppReservationIds(store, block=16), "CP1", 3)
    assert before == [1, 2, 3]
    assert after == [17, 18, 19]  # 4..16 were the stopped instance's: never used


async def test_concurrent_takers_on_one_instance_get_distinct_ids(
        store: SqliteStore) -> None:
    ids = OcppReservationIds(store, block=3)
    got = await asyncio.gather(*(ids.next("CP1") for _ in range(20)))
    assert sorted(got) == list(range(1, 21))


async def test_the_block_that_reaches_the_largest_id_is_used_then_it_wraps(
        store: SqliteStore) -> None:
    await store.insert(COLLECTION, "CP1", {"last": LARGEST - 4})
    ids = OcppReservationIds(store, block=4)
    assert await take(ids, "CP1", 6) == [LARGEST - 3, LARGEST - 2, LARGEST - 1, LARGEST, 1, 2]


async def test_a_block_that_would_pass_the_largest_id_starts_at_one(
        store: SqliteStore) -> None:
    await store.insert(COLLECTION, "CP1", {"last": LARGEST - 3})
    assert await take(OcppReservationIds(store, block=4), "CP1", 2) == [1, 2]


class _Racing(SqliteStore):
    """Another instance takes a block between this one's read and its compare-and-set,
    ``races`` times."""

    races = 1

    async def replace_if(self, collection: str, key: str, doc: Document, *,
                         expected: dict[str, Any]) -> bool:
        if self.races > 0:
            self.races -= 1
            current = await self.get(collection, key)
            assert current is not None
            await super().replace_if(collection, key, {"last": current["last"] + 4},
                                     expected={"last": current["last"]})
        return await super().replace_if(collection, key, doc, expected=expected)


async def test_a_lost_compare_and_set_takes_the_next_free_block() -> None:
    base = await SqliteStore.open(":memory:")
    store = _Racing(base._db)
    ids = OcppReservationIds(store, block=4)
    assert await ids.next("CP1") == 1  # the first block is inserted, not raced
    await take(ids, "CP1", 3)
    assert await take(ids, "CP1", 2) == [9, 10]  # 5..8 went to the other instance
    await base.close()


async def test_gives_up_when_every_compare_and_set_is_lost() -> None:
    base = await SqliteStore.open(":memory:")
    store = _Racing(base._db)
    await store.insert(COLLECTION, "CP1", {"last": 7})
    store.races = 10
    with pytest.raises(RuntimeError, match="CP1"):
        await OcppReservationIds(store, attempts=3, block=4).next("CP1")
    await base.close()


async def test_a_first_insert_lost_to_another_instance_reads_its_counter(
        store: SqliteStore) -> None:
    class Late(SqliteStore):
        async def get(self, collection: str, key: str) -> Document | None:
            found = await super().get(collection, key)
            if found is None:  # the other instance inserts right after this read
                await super().insert(collection, key, {"last": 4})
            return found

    ids = OcppReservationIds(Late(store._db), block=4)
    assert await take(ids, "CP1", 2) == [5, 6]
