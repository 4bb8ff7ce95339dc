"""The SQLite backend answers the repositories' filters from indexes, not table scans: the
sweepers and clocks query pending commands and live reservations every second or two."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.store.indexes import INDEXED_FIELDS
from ocpi_gateway.store.sqlite import SqliteStore, _where


@pytest.mark.parametrize("field", INDEXED_FIELDS)
async def test_filter_on_indexed_field_uses_its_index(tmp_path: Path, field: str) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        clause, params = _where({field: "x"})
        sql = "EXPLAIN QUERY PLAN SELECT doc FROM documents WHERE collection = ?" + clause
        rows = store._db.execute(sql, ["c", *params]).fetchall()
        plan = " ".join(str(row[-1]) for row in rows)
        assert f"USING INDEX idx_{field}" in plan
    finally:
        await store.close()


async def test_indexed_and_other_fields_filter_alike(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        await store.put("c", "a", {"state": "PENDING", "note": "n1"})
        await store.put("c", "b", {"state": "DONE", "note": "n1"})
        found = await store.find("c", {"state": "PENDING", "note": "n1"})
        assert found == [{"state": "PENDING", "note": "n1"}]
    finally:
        await store.close()
