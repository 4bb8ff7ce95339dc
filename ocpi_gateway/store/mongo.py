"""MongoDB backend on pymongo's async API; one MongoDB collection per store collection.

The document key is the MongoDB ``_id``, so insert-if-absent and compare-and-set are single
atomic operations on one document. The backend takes a database object so tests can hand it
an in-process emulator (tests/store/mongomock_async.py) with the same coroutine methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, DeleteOne, ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError, PyMongoError

from ocpi_gateway.domain.store import (
    Cursor,
    Delete,
    Document,
    Insert,
    OneOf,
    OrderBy,
    Page,
    Range,
    Where,
    Write,
    cursor_of,
    key_descending,
    order_fields,
)
from ocpi_gateway.store.indexes import INDEXES, index_name


def _strip(raw: dict[str, Any]) -> Document:
    doc = dict(raw)
    doc.pop("_id", None)
    return doc


def _without_id(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}


_OPERATORS = {">=": "$gte", ">": "$gt", "<=": "$lte", "<": "$lt"}


def _filter(where: Where | None) -> dict[str, Any]:
    """The MongoDB filter of a store ``where`` (a Range becomes $gte/$gt/$lte/$lt, a OneOf
    $in; null matches a null or absent field, as in SQLite)."""
    query: dict[str, Any] = {}
    for field, value in (where or {}).items():
        if isinstance(value, Range):
            query[field] = {_OPERATORS[op]: bound for op, bound in value.bounds()}
        elif isinstance(value, OneOf):
            query[field] = {"$in": list(value.values)}
        elif value is None or isinstance(value, bool | int | float | str):
            query[field] = value
        else:
            raise TypeError(f"where: {field} must be a scalar, Range or OneOf, "
                            f"not {type(value).__name__}")
    return query


def _sort(order_by: OrderBy | None) -> list[tuple[str, int]]:
    """The order fields, then the key (``_id``): the same total order as every backend."""
    return [*((field, DESCENDING if descending else ASCENDING)
              for field, descending in order_fields(order_by)),
            ("_id", DESCENDING if key_descending(order_by) else ASCENDING)]


def _after(order_by: OrderBy, after: Cursor) -> dict[str, Any]:
    """Documents strictly after the cursor in the order (the fields, then the key)."""
    fields = order_fields(order_by)
    values, key = after
    if len(values) != len(fields):
        raise ValueError("the cursor does not belong to this order")
    alternatives: list[dict[str, Any]] = []
    for depth in range(len(fields) + 1):
        condition: dict[str, Any] = {
            field: value for (field, _), value in zip(fields[:depth], values[:depth],
                                                      strict=True)}
        if depth < len(fields):
            field, descending = fields[depth]
            condition[field] = {"$lt" if descending else "$gt": values[depth]}
        else:
            condition["_id"] = {"$lt" if key_descending(order_by) else "$gt": key}
        alternatives.append(condition)
    return {"$or": alternatives}


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

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        # One ordered bulk write per run of writes to one collection (a bulk write names one
        # collection). An Insert is an upsert that sets nothing on a match: it inserted when
        # the bulk reports an upserted id at its index.
        results: list[bool] = []
        start = 0
        while start < len(writes):
            collection = writes[start].collection
            end = start
            while end < len(writes) and writes[end].collection == collection:
                end += 1
            run = writes[start:end]
            operations: list[Any] = []
            for write in run:
                if isinstance(write, Delete):
                    operations.append(DeleteOne({"_id": write.key}))
                elif isinstance(write, Insert):
                    operations.append(UpdateOne({"_id": write.key},
                                                {"$setOnInsert": _without_id(write.doc)},
                                                upsert=True))
                else:
                    operations.append(ReplaceOne({"_id": write.key}, _without_id(write.doc),
                                                 upsert=True))
            outcome = await self._db[collection].bulk_write(operations, ordered=True)
            upserted = outcome.upserted_ids or {}
            results += [i in upserted if isinstance(w, Insert) else True
                        for i, w in enumerate(run)]
            start = end
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
        await self._index(collection, where)
        if limit == 0:
            return []
        cursor = self._db[collection].find(_filter(where)).sort(_sort(order_by)).skip(offset)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_strip(raw) async for raw in cursor]

    async def find_page(
        self,
        collection: str,
        where: Where | None = None,
        *,
        order_by: OrderBy,
        limit: int,
        after: Cursor | None = None,
    ) -> Page:
        await self._index(collection, where)
        if limit <= 0:
            return Page([], None)
        query = _filter(where)
        if after is not None:
            query = {"$and": [query, _after(order_by, after)]} if query \
                else _after(order_by, after)
        cursor = self._db[collection].find(query).sort(_sort(order_by)).limit(limit + 1)
        raws = [raw async for raw in cursor]
        docs = [_strip(raw) for raw in raws[:limit]]
        more = len(raws) > limit
        return Page(docs, cursor_of(docs[-1], str(raws[limit - 1]["_id"]), order_by)
                    if more else None)

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        await self._index(collection, where)
        return int(await self._db[collection].count_documents(_filter(where)))

    async def ping(self) -> bool:
        try:
            await self._db.command("ping")
        except (PyMongoError, OSError, NotImplementedError):
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
