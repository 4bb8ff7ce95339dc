"""SQLite backend: one table of JSON documents, queried with json_extract.

One aiosqlite connection (its own thread) serialises every statement. The connection is in
autocommit mode and every operation is ONE call into that thread (a write is its own
transaction; a read executes and fetches in one go), so compare-and-set and insert-if-absent
are atomic, and no statement of one coroutine is left open while another's runs. That matters
when several connections share the file (two gateway instances, or the CLI while `serve`
runs): an open read snapshot that a write then tries to upgrade fails at once with "database is
locked" instead of waiting. WAL keeps readers from blocking on a writer; busy_timeout makes a
writer wait for another connection's write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from domain.store import Document
from ocpi_gateway.store.indexes import INDEXED_FIELDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (collection, key)
)
"""


def _path(field: str) -> str:
    # Quoted JSON path, bound as a parameter: a field name never becomes SQL.
    return '$."' + field.replace('"', '\\"') + '"'


# Each indexed field gets an expression index, and a filter on it is written with the literal
# path so that SQLite uses that index (an index on an expression is only used when the query
# spells the expression the same way, which a bound path does not).

_INDEXES = [
    f"CREATE INDEX IF NOT EXISTS idx_{field} ON documents "
    f"(collection, json_extract(doc, '$.\"{field}\"'))"
    for field in INDEXED_FIELDS
]


def _extract(field: str, params: list[Any]) -> str:
    if field in INDEXED_FIELDS:
        return f"json_extract(doc, '$.\"{field}\"')"
    params.append(_path(field))
    return "json_extract(doc, ?)"


def _where(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in (where or {}).items():
        if value is None:
            clauses.append(f"{_extract(field, params)} IS NULL")
        elif isinstance(value, bool | int | float | str):
            clauses.append(f"{_extract(field, params)} = ?")
            params.append(value)
        else:
            raise TypeError(f"where: {field} must be a scalar, not {type(value).__name__}")
    return ("".join(f" AND {c}" for c in clauses), params)


class SqliteStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)  # autocommit
        await db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the process
        # loses nothing; a power cut may lose the last commits, never corrupts the file.
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute(_SCHEMA)
        for index in _INDEXES:
            await db.execute(index)
        return cls(db)

    async def get(self, collection: str, key: str) -> Document | None:
        rows = list(await self._db.execute_fetchall(
            "SELECT doc FROM documents WHERE collection = ? AND key = ?", (collection, key)
        ))
        return dict(orjson.loads(rows[0][0])) if rows else None

    async def put(self, collection: str, key: str, doc: Document) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO documents (collection, key, doc) VALUES (?, ?, ?)",
            (collection, key, orjson.dumps(doc).decode()),
        )

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO documents (collection, key, doc) VALUES (?, ?, ?)",
            (collection, key, orjson.dumps(doc).decode()),
        )
        return bool(cursor.rowcount == 1)

    async def replace_if(
        self, collection: str, key: str, doc: Document, *, expected: dict[str, Any]
    ) -> bool:
        clause, params = _where(expected)
        cursor = await self._db.execute(
            "UPDATE documents SET doc = ? WHERE collection = ? AND key = ?" + clause,
            [orjson.dumps(doc).decode(), collection, key, *params],
        )
        return bool(cursor.rowcount == 1)

    async def delete(self, collection: str, key: str) -> bool:
        cursor = await self._db.execute(
            "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
        )
        return bool(cursor.rowcount == 1)

    async def find(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        """``order_by`` is a field name, descending when prefixed with ``-``; ties by key."""
        clause, params = _where(where)
        sql = "SELECT doc FROM documents WHERE collection = ?" + clause
        args: list[Any] = [collection, *params]
        if order_by:
            descending = order_by.startswith("-")
            sql += " ORDER BY json_extract(doc, ?)" + (" DESC" if descending else "")
            args.append(_path(order_by.lstrip("-")))
            sql += ", key"
        else:
            sql += " ORDER BY key"
        sql += " LIMIT ? OFFSET ?"
        args.extend([-1 if limit is None else limit, offset])
        rows = await self._db.execute_fetchall(sql, args)
        return [dict(orjson.loads(row[0])) for row in rows]

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        clause, params = _where(where)
        rows = list(await self._db.execute_fetchall(
            "SELECT COUNT(*) FROM documents WHERE collection = ?" + clause, [collection, *params]
        ))
        return int(rows[0][0]) if rows else 0

    async def ping(self) -> bool:
        try:
            await self._db.execute_fetchall("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self._db.close()
