"""SQLite backend: one table of JSON documents, queried with json_extract.

Every operation is one short statement run on the event loop's own thread, in autocommit mode:
with WAL and synchronous=NORMAL a write takes tens of microseconds, far less than handing it to
a worker thread and back (aiosqlite cost 200-400 µs an operation, and a RESERVE_NOW makes
dozens). Because each operation completes before the next one starts, compare-and-set and
insert-if-absent are atomic, and two stores on one file in one process never see each other
mid-statement. WAL keeps readers of other processes (the CLI while ``serve`` runs) from blocking
on a writer; a writer of another process is waited for at most ``busy_timeout``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ocpi_gateway.domain.store import (
    Cursor,
    Delete,
    Document,
    Insert,
    OneOf,
    OrderBy,
    Page,
    Put,
    Range,
    Where,
    Write,
    cursor_of,
    key_descending,
    order_fields,
)
from ocpi_gateway.store.indexes import INDEXES, Index, index_name, indexed_fields

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (collection, key)
)
"""


def _path(field: str) -> str:
    # Quoted JSON path, bound as a parameter: a field name never becomes SQL. A dot steps
    # into a nested object.
    return "$" + "".join('."' + part.replace('"', '\\"') + '"' for part in field.split("."))


_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")


def _expression(field: str) -> str:
    """The literal expression indexes are built on (name checked against _NAME)."""
    return f"json_extract(doc, '{_path(field)}')"


def _index_sql(collection: str, index: Index) -> str:
    # Partial and on literal expressions: SQLite uses an index on an expression only when the
    # query spells the same expression, and a partial one only when the query names the same
    # collection literally, so both are written into the SQL (names checked against _NAME;
    # values stay bound parameters). Each write then updates only its own collection's
    # indexes. The key ends every index: ordered queries break ties by key.
    columns = ", ".join([*(_expression(field) for field in index), "key"])
    return (f"CREATE INDEX IF NOT EXISTS {index_name(collection, index)} ON documents "
            f"({columns}) WHERE collection = '{collection}'")


def _stale_indexes(db: sqlite3.Connection) -> list[str]:
    """Our indexes on the table that INDEXES no longer declares (a database made by an
    earlier version): each costs every write of its collection."""
    wanted = {index_name(c, i) for c, indexes in INDEXES.items() for i in indexes}
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                      "tbl_name = 'documents' AND name LIKE 'idx_%'").fetchall()
    return [str(row[0]) for row in rows if row[0] not in wanted]


def _runs(rows: list[tuple[Write, str | None]]
          ) -> list[tuple[type, list[tuple[Any, str | None]]]]:
    """Consecutive writes of one kind together (one executemany each), in their order."""
    runs: list[tuple[type, list[tuple[Any, str | None]]]] = []
    for row in rows:
        kind = type(row[0])
        if runs and runs[-1][0] is kind:
            runs[-1][1].append(row)
        else:
            runs.append((kind, [row]))
    return runs


_INDEXES = [_index_sql(c, i) for c, indexes in INDEXES.items() for i in indexes]
if not all(_NAME.match(name) for c, indexes in INDEXES.items()
           for name in (c, *(f for i in indexes for f in i))):
    raise ValueError("index names must be lower-case identifiers: they are written into SQL")


def _field_sql(field: str, indexed: frozenset[str], params: list[Any]) -> str:
    """The expression of ``field``: the literal one an index is built on, else a bound path."""
    if field in indexed:
        return _expression(field)
    params.append(_path(field))
    return "json_extract(doc, ?)"


def _scalar(field: str, value: Any) -> Any:
    if not isinstance(value, bool | int | float | str):
        raise TypeError(f"where: {field} must be a scalar, Range or OneOf, "
                        f"not {type(value).__name__}")
    return value


def _conditions(where: Where | None, indexed: frozenset[str] = frozenset()
                ) -> tuple[str, list[Any]]:
    """`` AND ...`` for each field of ``where`` (top-level), and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in (where or {}).items():
        if isinstance(value, OneOf) and not value.values:
            clauses.append("0")
        elif value is None:
            clauses.append(_field_sql(field, indexed, params) + " IS NULL")
        elif isinstance(value, Range):
            for op, bound in value.bounds():
                clauses.append(f"{_field_sql(field, indexed, params)} {op} ?")
                params.append(_scalar(field, bound))
        elif isinstance(value, OneOf):
            clauses.append(f"{_field_sql(field, indexed, params)} IN "
                           f"({', '.join('?' * len(value.values))})")
            params.extend(_scalar(field, v) for v in value.values)
        else:
            clauses.append(_field_sql(field, indexed, params) + " = ?")
            params.append(_scalar(field, value))
    return "".join(f" AND {c}" for c in clauses), params


def _select_from(collection: str, where: Where | None) -> tuple[str, list[Any]]:
    """``FROM documents WHERE collection ...`` plus the filter, and its parameters."""
    indexed = indexed_fields(collection)
    clause, params = _conditions(where, indexed)
    if indexed:
        return f"FROM documents WHERE collection = '{collection}'{clause}", params
    return f"FROM documents WHERE collection = ?{clause}", [collection, *params]


def _narrows(condition: Any) -> bool:
    """Whether an index led by the condition's field reads few rows for it: an equality (or a
    one-of of one value) or a range does; a one-of of several values SQLite would read as a
    scan of the whole collection (no statistics) and sort."""
    return not isinstance(condition, OneOf) or len(condition.values) == 1


def _order_index(collection: str, where: Where | None, order_by: OrderBy | None) -> str:
    """`` INDEXED BY ...`` when an index on the first order field alone exists and no filter
    that narrows leads another index: without statistics SQLite would rather find the
    collection's rows by the primary key and sort them all than walk that index in order and
    stop at the limit."""
    fields = order_fields(order_by)
    indexes = INDEXES.get(collection, ())
    if not fields or (fields[0][0],) not in indexes:
        return ""
    leading = {index[0] for index in indexes if index != (fields[0][0],)}
    if any(field in leading and _narrows(condition)
           for field, condition in (where or {}).items()):
        return ""
    return f" INDEXED BY {index_name(collection, (fields[0][0],))}"


def _order_sql(collection: str, order_by: OrderBy | None, params: list[Any]) -> str:
    """`` ORDER BY ...`` (the fields, then key), appending the fields' parameters."""
    indexed = indexed_fields(collection)
    terms = [_field_sql(field, indexed, params) + (" DESC" if descending else "")
             for field, descending in order_fields(order_by)]
    return " ORDER BY " + ", ".join([*terms, "key DESC" if key_descending(order_by) else "key"])


def _after_sql(collection: str, order_by: OrderBy, after: Cursor, params: list[Any]) -> str:
    """`` AND (...)``: rows strictly after the cursor in the order (the fields, then key)."""
    indexed = indexed_fields(collection)
    fields = order_fields(order_by)
    values, key = after
    if len(values) != len(fields):
        raise ValueError("the cursor does not belong to this order")
    alternatives: list[str] = []
    for depth in range(len(fields) + 1):
        parts: list[str] = []
        for (field, _), value in zip(fields[:depth], values[:depth], strict=True):
            parts.append(_field_sql(field, indexed, params) + " = ?")
            params.append(_scalar(field, value))
        if depth < len(fields):
            field, descending = fields[depth]
            parts.append(_field_sql(field, indexed, params) + (" < ?" if descending else " > ?"))
            params.append(_scalar(field, values[depth]))
        else:
            parts.append("key < ?" if key_descending(order_by) else "key > ?")
            params.append(key)
        alternatives.append("(" + " AND ".join(parts) + ")")
    return " AND (" + " OR ".join(alternatives) + ")"


class SqliteStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the process
        # loses nothing; a power cut may lose the last commits, never corrupts the file.
        db.execute("PRAGMA synchronous=NORMAL")
        # Waiting blocks the event loop: another process holds the write lock for
        # microseconds, so a short bound is plenty.
        db.execute("PRAGMA busy_timeout=1000")
        db.execute(_SCHEMA)
        for index in _INDEXES:
            db.execute(index)
        for name in _stale_indexes(db):
            db.execute(f"DROP INDEX IF EXISTS {name}")
        return cls(db)

    async def get(self, collection: str, key: str) -> Document | None:
        row = self._db.execute(
            "SELECT doc FROM documents WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
        return dict(orjson.loads(row[0])) if row else None

    async def put(self, collection: str, key: str, doc: Document) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO documents (collection, key, doc) VALUES (?, ?, ?)",
            (collection, key, orjson.dumps(doc).decode()),
        )

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO documents (collection, key, doc) VALUES (?, ?, ?)",
            (collection, key, orjson.dumps(doc).decode()),
        )
        return cursor.rowcount == 1

    async def replace_if(
        self, collection: str, key: str, doc: Document, *, expected: dict[str, Any]
    ) -> bool:
        clause, params = _conditions(expected)
        cursor = self._db.execute(
            "UPDATE documents SET doc = ? WHERE collection = ? AND key = ?" + clause,
            [orjson.dumps(doc).decode(), collection, key, *params],
        )
        return cursor.rowcount == 1

    async def delete(self, collection: str, key: str) -> bool:
        cursor = self._db.execute(
            "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
        )
        return cursor.rowcount == 1

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        # Serialised first: a document that cannot be stored fails the batch before it began.
        rows = [(w, None if isinstance(w, Delete) else orjson.dumps(w.doc).decode())
                for w in writes]
        if not rows:
            return []
        db = self._db
        results: list[bool] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for kind, run in _runs(rows):
                if kind is Delete:
                    db.executemany("DELETE FROM documents WHERE collection = ? AND key = ?",
                                   [(w.collection, w.key) for w, _ in run])
                    results.extend(True for _ in run)
                elif kind is Put:
                    db.executemany("INSERT OR REPLACE INTO documents (collection, key, doc) "
                                   "VALUES (?, ?, ?)",
                                   [(w.collection, w.key, text) for w, text in run])
                    results.extend(True for _ in run)
                else:
                    assert kind is Insert
                    # An insert's result is its own row count: one statement each.
                    for write, text in run:
                        cursor = db.execute("INSERT OR IGNORE INTO documents (collection, key, "
                                            "doc) VALUES (?, ?, ?)",
                                            (write.collection, write.key, text))
                        results.append(cursor.rowcount == 1)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return results

    async def find(
        self,
        collection: str,
        where: Where | None = None,
        *,
        order_by: OrderBy | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        source, args = _select_from(collection, where)
        source = source.replace("FROM documents", "FROM documents"
                                + _order_index(collection, where, order_by), 1)
        sql = "SELECT doc " + source + _order_sql(collection, order_by, args)
        sql += " LIMIT ? OFFSET ?"
        args.extend([-1 if limit is None else limit, offset])
        rows = self._db.execute(sql, args).fetchall()
        return [dict(orjson.loads(row[0])) for row in rows]

    async def find_page(
        self,
        collection: str,
        where: Where | None = None,
        *,
        order_by: OrderBy,
        limit: int,
        after: Cursor | None = None,
    ) -> Page:
        if limit <= 0:
            return Page([], None)
        source, args = _select_from(collection, where)
        source = source.replace("FROM documents", "FROM documents"
                                + _order_index(collection, where, order_by), 1)
        sql = "SELECT key, doc " + source
        if after is not None:
            sql += _after_sql(collection, order_by, after, args)
        sql += _order_sql(collection, order_by, args) + " LIMIT ?"
        args.append(limit + 1)  # one more tells whether a next page exists
        rows = self._db.execute(sql, args).fetchall()
        docs = [dict(orjson.loads(row[1])) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(docs, cursor_of(docs[-1], str(rows[limit - 1][0]), order_by)
                    if more else None)

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        source, args = _select_from(collection, where)
        row = self._db.execute("SELECT COUNT(*) " + source, args).fetchone()
        return int(row[0]) if row else 0

    async def ping(self) -> bool:
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        self._db.close()
