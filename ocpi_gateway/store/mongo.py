"""MongoDB backend on pymongo's async API; one MongoDB collection per store collection.

The document key is the MongoDB ``_id``, so insert-if-absent and compare-and-set are single
atomic operations on one document. The backend takes a database object so tests can hand it
an in-process emulator (tests/store/mongomock_async.py) with the same coroutine methods.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from ocpi_gateway.domain.store import Document
from ocpi_gateway.store.indexes import INDEXES, index_name


def _strip(raw: dict[str, Any]) -> Document:
    doc = dict(raw)
    doc.pop("_id", None)
    return doc


def _without_id(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}


class MongoStore:
    def __init__(self, database: Any, client: Any = None) -> None:
        self._db = database
        self._client = client
        self._indexed: set[str] = set()

    async def _index(self, collection: str, where: dict[str, Any] | None) -> None:
        """Build the collection's indexes (INDEXES) the first time it is queried
        (create_index is idempotent; the set only saves the round trips)."""
        if collection in self._indexed:
            return
        for index in INDEXES.get(collection, ()):
            await self._db[collection].create_index([(field, ASCENDING) for field in index],
                                                    name=index_name(collection, index))
        self._indexed.add(collection)

    @classmethod
    def from_url(cls, url: str) -> MongoStore:
        """The database named in the URL's path, ``ocpi_gateway`` when none is named."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=3000, tz_aware=True
        )
        try:
            database = client.get_default_database()
        except Exception:
            database = client["ocpi_gateway"]
        return cls(database, client)

    async def get(self, collection: str, key: str) -> Document | None:
        raw = await self._db[collection].find_one({"_id": key})
        return None if raw is None else _strip(raw)

    async def put(self, collection: str, key: str, doc: Document) -> None:
        await self._db[collection].replace_one({"_id": key}, _without_id(doc), upsert=True)

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        try:
            await self._db[collection].insert_one({**_without_id(doc), "_id": key})
        except DuplicateKeyError:
            return False
        return True

    async def replace_if(
        self, collection: str, key: str, doc: Document, *, expected: dict[str, Any]
    ) -> bool:
        result = await self._db[collection].replace_one(
            {**expected, "_id": key}, _without_id(doc)
        )
        return bool(result.matched_count == 1)

    async def delete(self, collection: str, key: str) -> bool:
        result = await self._db[collection].delete_one({"_id": key})
        return bool(result.deleted_count == 1)

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
        await self._index(collection, where)
        sort: list[tuple[str, int]] = []
        if order_by:
            field = order_by.lstrip("-")
            sort.append((field, DESCENDING if order_by.startswith("-") else ASCENDING))
        sort.append(("_id", ASCENDING))
        cursor = self._db[collection].find(dict(where or {})).sort(sort).skip(offset)
        if limit is not None:
            if limit == 0:
                return []
            cursor = cursor.limit(limit)
        return [_strip(raw) async for raw in cursor]

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        await self._index(collection, where)
        return int(await self._db[collection].count_documents(dict(where or {})))

    async def ping(self) -> bool:
        try:
            await self._db.command("ping")
        except (PyMongoError, OSError, NotImplementedError):
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
