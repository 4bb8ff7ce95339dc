"""Nested fields in the query contract, on every backend: a dotted name (``token.uid``) filters,
orders and pages on a field of a nested object (the admin API's sessions and CDRs by their
token), and SQLite answers it from an index built on the same path."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.domain.store import DocumentStore, OneOf, Range, field_value
from ocpi_gateway.store.indexes import index_name
from ocpi_gateway.store.sqlite import SqliteStore, _select_from

DOCS = [
    # key, token uid, location id, ts
    ("s1", "T1", "L1", 10.0), ("s2", "T2", "L1", 20.0), ("s3", "T1", "L2", 30.0),
    ("s4", "T1", "L1", 40.0),
]


async def _fill(store: DocumentStore) -> None:
    for key, uid, location, ts in DOCS:
        await store.put("things", key, {"key": key, "token": {"uid": uid, "type": "RFID"},
                                        "location": {"id": location}, "ts": ts,
                                        "meta": {"at": {"ts": ts}}})
    # No nested object at all.
    await store.put("things", "s5", {"key": "s5", "ts": 50.0})


def _keys(docs: list[dict[str, object]]) -> list[object]:
    return [d["key"] for d in docs]


async def test_a_dotted_field_filters_on_the_nested_value(store: DocumentStore) -> None:
    await _fill(store)
    assert _keys(await store.find("things", {"token.uid": "T1"}, order_by="ts")) == [
        "s1", "s3", "s4"]
    assert _keys(await store.find("things", {"token.uid": "T1", "location.id": "L1"})) == [
        "s1", "s4"]
    assert _keys(await store.find("things", {"token.uid": OneOf(["T2", "T9"])})) == ["s2"]
    assert _keys(await store.find("things", {"meta.at.ts": Range(gt=15.0, lt=40.0)},
                                  order_by="ts")) == ["s2", "s3"]
    assert await store.count("things", {"location.id": "L1"}) == 3
    # Without the nested object the field is absent: null.
    assert _keys(await store.find("things", {"token.uid": None})) == ["s5"]


async def test_pages_order_by_a_nested_field(store: DocumentStore) -> None:
    await _fill(store)
    where = {"token.uid": Range(gte="T1")}
    first = await store.find_page("things", where, order_by=["-meta.at.ts"], limit=2)
    assert _keys(first.docs) == ["s4", "s3"] and first.next == ((30.0,), "s3")
    rest = await store.find_page("things", where, order_by=["-meta.at.ts"], limit=2,
                                 after=first.next)
    assert _keys(rest.docs) == ["s2", "s1"] and rest.next is None
    by_location = await store.find("things", {"location.id": Range(gte="L")},
                                   order_by=["location.id", "-ts"])
    assert _keys(by_location) == ["s4", "s2", "s1", "s3"]


def test_field_value_steps_into_objects_only() -> None:
    doc = {"a": {"b": {"c": 1}}, "s": "text"}
    assert field_value(doc, "a.b.c") == 1
    assert field_value(doc, "a.x.c") is None
    assert field_value(doc, "s.c") is None


async def test_sqlite_reads_a_nested_filter_from_its_index(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "g.db"))
    try:
        source, params = _select_from("cdrs", {"token.uid": "T1"})
        sql = "SELECT doc " + source + " ORDER BY json_extract(doc, '$.\"last_updated_ts\"')"
        plan = " ".join(str(row[-1]) for row in store._db.execute(
            "EXPLAIN QUERY PLAN " + sql, params).fetchall())
        assert f"USING INDEX {index_name('cdrs', ('token.uid', 'last_updated_ts'))}" in plan
        assert index_name("cdrs", ("token.uid", "last_updated_ts")) == \
            "idx_cdrs_token__uid_last_updated_ts"
    finally:
        await store.close()


async def test_a_nested_field_name_never_becomes_sql(store: DocumentStore) -> None:
    await _fill(store)
    hostile = "token.uid\"') OR 1=1 --"
    assert await store.find("things", {hostile: "T1"}) == []
    with pytest.raises(ValueError, match="paged order field"):
        await store.find_page("things", order_by=[hostile], limit=1)
