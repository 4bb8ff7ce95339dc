"""One contract for every DocumentStore backend.

Backends: ``sqlite`` (always), ``mongo_emulated`` (the MongoDB backend against mongomock's
in-process emulator behind tests/store/mongomock_async.py — it exercises our queries, not a
MongoDB server: docs/decisions.md), ``mongo_real`` (a real server, only when MONGODB_URL is set).
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store import open_store
from tests.store.mongomock_async import AsyncMockCollection, AsyncMockCursor, AsyncMockDatabase


async def test_get_absent_is_none(store: DocumentStore) -> None:
    assert await store.get("things", "nope") is None


async def test_put_get_replace(store: DocumentStore) -> None:
    await store.put("things", "a", {"n": 1, "nested": {"x": [1, 2]}, "s": "é"})
    assert await store.get("things", "a") == {"n": 1, "nested": {"x": [1, 2]}, "s": "é"}
    await store.put("things", "a", {"n": 2})
    assert await store.get("things", "a") == {"n": 2}
    assert await store.get("other", "a") is None  # collections are separate


async def test_insert_only_if_absent(store: DocumentStore) -> None:
    assert await store.insert("things", "k", {"v": 1}) is True
    assert await store.insert("things", "k", {"v": 2}) is False
    assert await store.get("things", "k") == {"v": 1}


async def test_concurrent_inserts_one_wins(store: DocumentStore) -> None:
    results = await asyncio.gather(*(store.insert("things", "k", {"v": i}) for i in range(10)))
    assert results.count(True) == 1


async def test_replace_if_compare_and_set(store: DocumentStore) -> None:
    await store.put("things", "k", {"state": "pending", "n": 1})
    assert await store.replace_if("things", "k", {"state": "done"},
                                  expected={"state": "other"}) is False
    assert await store.replace_if("things", "k", {"state": "done", "n": 2},
                                  expected={"state": "pending", "n": 1}) is True
    assert await store.get("things", "k") == {"state": "done", "n": 2}
    assert await store.replace_if("things", "absent", {"state": "x"},
                                  expected={"state": "done"}) is False
    assert await store.get("things", "absent") is None


async def test_delete(store: DocumentStore) -> None:
    await store.put("things", "k", {"v": 1})
    assert await store.delete("things", "k") is True
    assert await store.delete("things", "k") is False
    assert await store.get("things", "k") is None


async def test_find_where_order_limit_offset(store: DocumentStore) -> None:
    for i, (kind, flag) in enumerate([("a", True), ("b", False), ("a", False), ("a", True)]):
        await store.put("things", f"k{i}", {"kind": kind, "flag": flag, "rank": 10 - i,
                                            "maybe": None if i == 0 else i})
    found = await store.find("things", {"kind": "a"}, order_by="rank")
    assert [d["rank"] for d in found] == [7, 8, 10]
    assert [d["rank"] for d in await store.find("things", {"kind": "a"}, order_by="-rank")] == [
        10, 8, 7]
    assert [d["rank"] for d in await store.find("things", {"kind": "a", "flag": True},
                                                order_by="rank")] == [7, 10]
    page = await store.find("things", order_by="rank", limit=2, offset=1)
    assert [d["rank"] for d in page] == [8, 9]
    assert await store.find("things", {"maybe": None}) == [
        {"kind": "a", "flag": True, "rank": 10, "maybe": None}]
    assert await store.find("things", {"kind": "zzz"}) == []
    assert len(await store.find("things")) == 4


async def test_count(store: DocumentStore) -> None:
    for i in range(5):
        await store.put("things", str(i), {"even": i % 2 == 0})
    assert await store.count("things") == 5
    assert await store.count("things", {"even": True}) == 3
    assert await store.count("other") == 0


async def test_ping(store: DocumentStore) -> None:
    assert await store.ping() is True


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'g.db'}"
    first = await open_store(url)
    await first.put("partners", "p", {"name": "x"})
    await first.close()
    second = await open_store(url)
    assert await second.get("partners", "p") == {"name": "x"}
    await second.close()


async def test_unknown_store_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported store_url"):
        await open_store("postgres://x")


@pytest.mark.parametrize(
    ("stand_in", "real"),
    [(AsyncMockDatabase, AsyncDatabase), (AsyncMockCollection, AsyncCollection),
     (AsyncMockCursor, AsyncCursor)],
)
def test_emulator_adapter_offers_only_what_pymongo_async_offers(stand_in: type,
                                                                real: type) -> None:
    # MongoStore is typed against pymongo's async API; the stand-in must not let it call a
    # method pymongo lacks, nor await what pymongo returns directly (or the reverse).
    names = [name for name, _ in inspect.getmembers(stand_in, inspect.isfunction)
             if not name.startswith("_") or name == "__getitem__"]
    assert names
    for name in names:
        assert hasattr(real, name), f"pymongo's {real.__name__} has no {name}"
        assert inspect.iscoroutinefunction(getattr(stand_in, name)) == (
            inspect.iscoroutinefunction(getattr(real, name))), name
