"""The store contract of ``write_batch`` (the outbox's and the CDRs' group commit), on every
backend: writes applied in their order, each answering as its own call would."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.domain.store import Delete, DocumentStore, Insert, Put
from ocpi_gateway.store.sqlite import SqliteStore


async def test_a_batch_applies_its_writes_in_order(store: DocumentStore) -> None:
    await store.put("things", "old", {"v": "before"})
    results = await store.write_batch([
        Put("things", "a", {"v": 1}),
        Insert("things", "b", {"v": 2}),
        Insert("things", "old", {"v": "replaced?"}),  # existed before the batch
        Insert("things", "b", {"v": 3}),  # inserted by an earlier write of the batch
        Delete("things", "absent"),
        Put("other", "a", {"v": "other collection"}),
        Put("things", "c", {"v": 4}),
        Delete("things", "c"),
        Delete("things", "a"),
        Insert("things", "a", {"v": 5}),  # absent again after the Delete before it
        Put("things", "b", {"v": 6}),
    ])
    assert results == [True, True, False, False, True, True, True, True, True, True, True]
    assert await store.get("things", "old") == {"v": "before"}
    assert await store.get("things", "a") == {"v": 5}
    assert await store.get("things", "b") == {"v": 6}
    assert await store.get("things", "c") is None
    assert await store.get("other", "a") == {"v": "other collection"}
    assert await store.count("things") == 3


async def test_runs_of_one_kind_apply_in_order_too(store: DocumentStore) -> None:
    # Consecutive writes of one kind may be applied together: still each in its turn.
    await store.put("things", "z", {"v": 0})
    results = await store.write_batch([
        Put("things", "a", {"v": 1}), Put("things", "a", {"v": 2}), Put("things", "b", {"v": 1}),
        Delete("things", "b"), Delete("things", "z"), Delete("things", "never"),
        Put("things", "b", {"v": 3}), Put("things", "z", {"v": 4}),
        Insert("things", "c", {"v": 5}), Insert("things", "c", {"v": 6}),
        Delete("things", "c"), Put("things", "c", {"v": 7}),
    ])
    assert results == [True] * 9 + [False, True, True]
    assert {k: (await store.get("things", k) or {}).get("v") for k in "abcz"} == {
        "a": 2, "b": 3, "c": 7, "z": 4}
    assert await store.count("things") == 4


async def test_an_empty_batch_writes_nothing(store: DocumentStore) -> None:
    assert await store.write_batch([]) == []
    assert await store.count("things") == 0


async def test_batched_documents_are_found_by_queries(store: DocumentStore) -> None:
    await store.write_batch([Put("things", f"k{i}", {"n": i, "even": i % 2 == 0})
                             for i in range(20)])
    assert [d["n"] for d in await store.find("things", {"even": True}, order_by="-n",
                                             limit=3)] == [18, 16, 14]
    await store.write_batch([Delete("things", f"k{i}") for i in range(0, 20, 2)])
    assert await store.count("things", {"even": True}) == 0
    assert await store.count("things") == 10


async def test_sqlite_a_batch_is_committed_for_every_reader(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    writer, reader = await SqliteStore.open(path), await SqliteStore.open(path)
    try:
        await writer.write_batch([Put("things", "a", {"v": 1}), Insert("things", "b", {"v": 2})])
        assert await reader.get("things", "a") == {"v": 1}
        assert await reader.get("things", "b") == {"v": 2}
    finally:
        await writer.close()
        await reader.close()


async def test_sqlite_a_batch_that_fails_writes_nothing(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "store.db"))
    try:
        await store.put("things", "kept", {"v": 1})
        # The third write breaks a constraint of the table: the first two are rolled back.
        with pytest.raises(Exception, match="NOT NULL"):
            await store.write_batch([Put("things", "a", {"v": 1}), Delete("things", "kept"),
                                     Put(None, "b", {"v": 2})])  # type: ignore[arg-type]
        assert await store.get("things", "a") is None
        assert await store.get("things", "kept") == {"v": 1}
        # An unstorable document fails the batch before it began; the store works on.
        with pytest.raises(TypeError):
            await store.write_batch([Put("things", "a", {"v": 1}),
                                     Put("things", "b", {"v": object()})])
        assert await store.get("things", "a") is None
        assert await store.write_batch([Put("things", "a", {"v": 2})]) == [True]
        assert await store.get("things", "a") == {"v": 2}
    finally:
        await store.close()
