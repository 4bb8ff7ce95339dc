"""The SQLite backend answers the repositories' filters from indexes, not table scans: the
sweepers and clocks query pending commands and live reservations every second or two."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.store.indexes import INDEXES
from ocpi_gateway.store.sqlite import SqliteStore, _select_from

PAIRS = [(collection, field) for collection, fields in INDEXES.items() for field in fields]


@pytest.mark.parametrize(("collection", "field"), PAIRS)
async def test_filter_on_indexed_field_uses_its_index(
        tmp_path: Path, collection: str, field: str) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        source, params = _select_from(collection, {field: "x", "other": 1})
        rows = store._db.execute("EXPLAIN QUERY PLAN SELECT doc " + source, params).fetchall()
        plan = " ".join(str(row[-1]) for row in rows)
        assert f"USING INDEX idx_{collection}_{field}" in plan
    finally:
        await store.close()


async def test_indexed_and_other_fields_filter_alike(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        for collection in ("commands", "elsewhere"):
            await store.put(collection, "a", {"state": "PENDING", "note": "n1"})
            await store.put(collection, "b", {"state": "DONE", "note": "n1"})
            found = await store.find(collection, {"state": "PENDING", "note": "n1"})
            assert found == [{"state": "PENDING", "note": "n1"}]
            assert await store.count(collection, {"state": "DONE"}) == 1
    finally:
        await store.close()
