"""The query part of the store contract, on every backend: range and one-of filters, orders
on several fields, keyset pages (the admin API's reservation list, the outbox list, reports)."""

from __future__ import annotations

import random

import pytest

from ocpi_gateway.domain.store import DocumentStore, OneOf, Range

ROWS = [
    # key, kind, ts, n
    ("a", "x", 10.0, 3), ("b", "y", 20.0, 1), ("c", "x", 20.0, 2), ("d", "x", 30.0, 5),
    ("e", "z", 40.0, 4), ("f", "y", 50.0, 0),
]


async def _fill(store: DocumentStore) -> None:
    for key, kind, ts, n in ROWS:
        await store.put("things", key, {"key": key, "kind": kind, "ts": ts, "n": n})


def _keys(docs: list[dict[str, object]]) -> list[object]:
    return [d["key"] for d in docs]


async def test_range_bounds_each_inclusive_or_not(store: DocumentStore) -> None:
    await _fill(store)
    assert _keys(await store.find("things", {"ts": Range(gte=20.0, lt=40.0)})) == [
        "b", "c", "d"]
    assert _keys(await store.find("things", {"ts": Range(gt=20.0, lte=40.0)})) == ["d", "e"]
    assert _keys(await store.find("things", {"ts": Range(lt=20.0)})) == ["a"]
    assert _keys(await store.find("things", {"ts": Range(gte=50.0)})) == ["f"]
    assert await store.count("things", {"ts": Range(gt=10.0), "kind": "x"}) == 2


async def test_range_on_strings_and_missing_fields(store: DocumentStore) -> None:
    await store.put("things", "1", {"at": "2026-01-01T10:00:00+00:00"})
    await store.put("things", "2", {"at": "2026-01-02T10:00:00+00:00"})
    await store.put("things", "3", {"other": 1})
    await store.put("things", "4", {"at": None})
    found = await store.find("things", {"at": Range(gte="2026-01-01T12:00:00+00:00")})
    assert found == [{"at": "2026-01-02T10:00:00+00:00"}]
    # Absent and null fields are in no range, whatever its bounds.
    assert await store.count("things", {"at": Range(lte="9999")}) == 2


async def test_one_of(store: DocumentStore) -> None:
    await _fill(store)
    assert _keys(await store.find("things", {"kind": OneOf(["y", "z"])}, order_by="ts")) == [
        "b", "e", "f"]
    assert await store.find("things", {"kind": OneOf([])}) == []
    assert await store.count("things", {"kind": OneOf(["x"]), "n": OneOf([2, 5])}) == 2
    with pytest.raises(ValueError):
        OneOf([None])  # type: ignore[list-item]


async def test_order_by_several_fields_then_key(store: DocumentStore) -> None:
    await _fill(store)
    assert _keys(await store.find("things", order_by=["-ts", "n"])) == [
        "f", "e", "d", "b", "c", "a"]
    assert _keys(await store.find("things", order_by=["kind", "-ts"])) == [
        "d", "c", "a", "f", "b", "e"]
    # Equal order values: the key decides, in the direction of the last field, on every
    # backend.
    assert _keys(await store.find("things", {"ts": 20.0}, order_by="-ts")) == ["c", "b"]
    assert _keys(await store.find("things", {"ts": 20.0}, order_by="ts")) == ["b", "c"]
    assert _keys(await store.find("things", {"ts": 20.0}, order_by=["-ts", "kind"])) == [
        "c", "b"]  # kind first: x before y
    assert _keys(await store.find("things", order_by=["kind"], limit=2, offset=2)) == [
        "d", "b"]


@pytest.mark.parametrize("order_by", [["-ts"], ["ts"], ["kind", "-ts"], ["-n"]])
async def test_pages_walk_every_document_once_in_order(store: DocumentStore,
                                                       order_by: list[str]) -> None:
    await _fill(store)
    expected = _keys(await store.find("things", order_by=order_by))
    seen: list[object] = []
    page = await store.find_page("things", order_by=order_by, limit=2)
    pages = 1
    while True:
        seen += _keys(page.docs)
        if page.next is None:
            break
        page = await store.find_page("things", order_by=order_by, limit=2, after=page.next)
        pages += 1
    assert seen == expected
    assert pages == 3  # six documents, two a page: the third knows it is the last


async def test_a_page_filters_and_a_full_last_page_has_no_next(store: DocumentStore) -> None:
    await _fill(store)
    first = await store.find_page("things", {"kind": "x"}, order_by="-ts", limit=2)
    assert _keys(first.docs) == ["d", "c"] and first.next is not None
    last = await store.find_page("things", {"kind": "x"}, order_by="-ts", limit=2,
                                 after=first.next)
    assert _keys(last.docs) == ["a"] and last.next is None
    exact = await store.find_page("things", {"kind": "y"}, order_by="-ts", limit=2)
    assert _keys(exact.docs) == ["f", "b"] and exact.next is None
    assert (await store.find_page("things", {"kind": "none"}, order_by="ts", limit=5)).docs == []


async def test_pages_do_not_skip_or_repeat_while_documents_arrive(
        store: DocumentStore) -> None:
    await _fill(store)
    first = await store.find_page("things", order_by="-ts", limit=3)
    assert _keys(first.docs) == ["f", "e", "d"]
    # Newer documents go before the cursor, older after: the next page holds exactly the
    # documents after "d" in the order, the new older one included.
    await store.put("things", "new-first", {"key": "new-first", "kind": "x", "ts": 99.0, "n": 0})
    await store.put("things", "new-late", {"key": "new-late", "kind": "x", "ts": 15.0, "n": 0})
    rest = await store.find_page("things", order_by="-ts", limit=10, after=first.next)
    assert _keys(rest.docs) == ["c", "b", "new-late", "a"]


async def test_random_pages_match_the_full_order(store: DocumentStore) -> None:
    rng = random.Random(7)
    for i in range(60):
        await store.put("things", f"k{i:02d}", {"key": f"k{i:02d}", "g": rng.choice("ab"),
                                                "t": rng.randint(0, 9)})
    where = {"g": "a", "t": Range(gte=2)}
    expected = _keys(await store.find("things", where, order_by=["-t"]))
    assert expected  # the seed gives some
    seen: list[object] = []
    after = None
    while True:
        page = await store.find_page("things", where, order_by=["-t"], limit=7, after=after)
        seen += _keys(page.docs)
        if page.next is None:
            break
        after = page.next
    assert seen == expected
    assert await store.count("things", where) == len(expected)


async def test_a_paged_order_field_must_be_present(store: DocumentStore) -> None:
    await store.put("things", "a", {"key": "a"})
    await store.put("things", "b", {"key": "b"})
    with pytest.raises(ValueError, match="paged order field"):
        await store.find_page("things", order_by="ts", limit=1)


async def test_unsupported_conditions_are_refused(store: DocumentStore) -> None:
    with pytest.raises(TypeError):
        await store.find("things", {"kind": ["a", "b"]})
    with pytest.raises(ValueError):
        Range()
