"""The SQLite backend answers the repositories' filters from indexes, not table scans: the
sweepers and clocks query pending commands and live reservations every second or two."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocpi_gateway.reservation_policy.records import ReservationRepository
from ocpi_gateway.store.indexes import INDEXES, Index, index_name
from ocpi_gateway.store.sqlite import SqliteStore, _select_from

PAIRS = [(collection, index) for collection, indexes in INDEXES.items() for index in indexes]


def _plan(store: SqliteStore, sql: str, params: list[object]) -> str:
    rows = store._db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(("collection", "index"), PAIRS)
async def test_filter_on_indexed_fields_uses_their_index(
        tmp_path: Path, collection: str, index: Index) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        source, params = _select_from(collection, {**{f: "x" for f in index}, "other": 1})
        assert f"USING INDEX {index_name(collection, index)}" in _plan(
            store, "SELECT doc " + source, params)
    finally:
        await store.close()


async def test_live_reservations_of_a_partner_are_counted_from_their_index(
        tmp_path: Path) -> None:
    """count_live(partner) runs on every RESERVE_NOW: it must not read every live one."""
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        source, params = _select_from("reservations", {"live": True, "partner_key": "NL-ABC"})
        plan = _plan(store, "SELECT COUNT(*) " + source, params)
        assert "idx_reservations_live_partner_key" in plan and "SCAN" not in plan
    finally:
        await store.close()


async def test_the_expiry_clock_reads_the_earliest_expiries_from_an_index(
        tmp_path: Path) -> None:
    """walk_due(): live reservations by expiry, page by page; no sort of every live one."""
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        async for _ in ReservationRepository(store).walk_due(datetime.now(UTC)):
            pass
        store._db.set_trace_callback(None)
        [sql] = [s for s in statements if s.startswith("SELECT")]
        plan = _plan(store, sql, [])
        assert "USING INDEX idx_reservations_live_expiry_ts" in plan
        assert "TEMP B-TREE" not in plan  # the index gives the order
    finally:
        await store.close()


async def test_indexes_no_longer_declared_are_dropped(tmp_path: Path) -> None:
    path = str(tmp_path / "g.db")
    store = await SqliteStore.open(path)
    store._db.execute("CREATE INDEX idx_reservations_live ON documents "
                      "(json_extract(doc, '$.\"live\"')) WHERE collection = 'reservations'")
    await store.close()
    store = await SqliteStore.open(path)
    try:
        names = {row[0] for row in store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "idx_reservations_live" not in names
        assert index_name("reservations", ("live", "partner_key")) in names
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


@pytest.mark.parametrize(("where", "index"), [
    ({}, "idx_reservations_created_ts"),
    ({"partner_key": "DE-ABC"}, "idx_reservations_partner_key_created_ts"),
    ({"location_id": "L", "state": "EXPIRED"}, "_created_ts"),
])
async def test_the_admin_reservation_list_reads_newest_first_from_an_index(
        tmp_path: Path, where: dict[str, object], index: str) -> None:
    """GET /admin/api/reservations: a page of the newest, never a sort of every record."""
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        await store.find_page("reservations", where, order_by=["-created_ts"], limit=50)
        store._db.set_trace_callback(None)
        [sql] = [s for s in statements if s.startswith("SELECT")]
        plan = _plan(store, sql, [])
        assert index in plan and "TEMP B-TREE" not in plan, plan
    finally:
        await store.close()
