"""The admin lists' queries on SQLite read a page from an index in order, never a scan and
sort of the collection: the shapes the benchmark (benchmarks/admin_reservations_query.py)
measured slow before their fix: the live reservations, and several states at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.admin.service.reservations import ReservationFilter
from ocpi_gateway.domain.store import OneOf
from ocpi_gateway.store.sqlite import SqliteStore


def _plan(store: SqliteStore, sql: str) -> str:
    return " ".join(str(row[-1]) for row in store._db.execute("EXPLAIN QUERY PLAN " + sql))


@pytest.mark.parametrize(("query", "index"), [
    ({"state": "live"}, "idx_reservations_live_created_ts"),
    ({"state": "CANCELLED,REMOVED"}, "idx_reservations_created_ts"),
    ({"state": "CANCELLED,REMOVED", "site": "L1"}, "idx_reservations_location_id_created_ts"),
    ({"state": "EXPIRED"}, "idx_reservations_state_created_ts"),
])
async def test_reservation_states_read_in_order_from_an_index(
        tmp_path: Path, query: dict[str, str], index: str) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        wanted = ReservationFilter.model_validate(query)
        await store.find_page("reservations", wanted.where(), order_by=wanted.order(), limit=50)
        store._db.set_trace_callback(None)
        [sql] = [s for s in statements if s.startswith("SELECT")]
        plan = _plan(store, sql)
        assert f"INDEX {index} " in plan + " " and "TEMP B-TREE" not in plan, plan
    finally:
        await store.close()


async def test_a_one_of_of_one_value_still_leads_its_index(tmp_path: Path) -> None:
    """GET {sessions} of one eMSP: OneOf([its party]) reads that eMSP's index."""
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        await store.find("sessions", {"emsp_key": OneOf(["DE/ABC"])},
                         order_by="last_updated_ts", limit=10)
        store._db.set_trace_callback(None)
        [sql] = [s for s in statements if s.startswith("SELECT")]
        assert "idx_sessions_emsp_key_last_updated_ts" in _plan(store, sql)
    finally:
        await store.close()
