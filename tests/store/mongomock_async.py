"""The slice of pymongo's async API that ``MongoStore`` uses, served by plain (sync) mongomock.

Test-only stand-in for a MongoDB server (docs/decisions.md says what it cannot catch). Each
operation first yields to the event loop, as a driver's network round trip would, then runs
atomically on mongomock's in-memory store, so concurrent coroutines interleave between
operations exactly where they could against a server. test_contract.py checks that every name
here exists, with the same kind (coroutine or not), on pymongo's own async classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import mongomock
import pymongo


class AsyncMockCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, key_or_list: Any, direction: Any = None) -> AsyncMockCursor:
        self._cursor = self._cursor.sort(key_or_list, direction)
        return self

    def skip(self, skip: int) -> AsyncMockCursor:
        self._cursor = self._cursor.skip(skip)
        return self

    def limit(self, limit: int) -> AsyncMockCursor:
        self._cursor = self._cursor.limit(limit)
        return self

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        await asyncio.sleep(0)
        for document in list(self._cursor):
            yield document


class AsyncMockCollection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self._collection.find_one(filter, *args, **kwargs)

    def find(self, *args: Any, **kwargs: Any) -> AsyncMockCursor:
        return AsyncMockCursor(self._collection.find(*args, **kwargs))

    async def insert_one(self, document: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self._collection.insert_one(document, **kwargs)

    async def replace_one(self, filter: Any, replacement: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self._collection.replace_one(filter, replacement, **kwargs)

    async def delete_one(self, filter: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self._collection.delete_one(filter, **kwargs)

    async def bulk_write(self, requests: Any, ordered: bool = True) -> Any:
        # mongomock's own bulk_write predates pymongo's operation classes of today: each
        # operation is applied in order here, atomically together (one round trip).
        await asyncio.sleep(0)
        assert ordered, "MongoStore writes batches in order"
        upserted: dict[int, Any] = {}
        for index, request in enumerate(requests):
            if isinstance(request, pymongo.DeleteOne):
                self._collection.delete_one(request._filter)
                continue
            if isinstance(request, pymongo.ReplaceOne):
                result = self._collection.replace_one(request._filter, request._doc,
                                                      upsert=request._upsert)
            elif isinstance(request, pymongo.UpdateOne):
                result = self._collection.update_one(request._filter, request._doc,
                                                     upsert=request._upsert)
            else:
                raise NotImplementedError(type(request).__name__)
            if result.upserted_id is not None:
                upserted[index] = result.upserted_id
        return SimpleNamespace(upserted_ids=upserted)

    async def count_documents(self, filter: Any, **kwargs: Any) -> int:
        await asyncio.sleep(0)
        return int(self._collection.count_documents(filter, **kwargs))

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        return str(self._collection.create_index(keys, **kwargs))

    async def drop(self) -> None:
        await asyncio.sleep(0)
        self._collection.drop()


class AsyncMockDatabase:
    def __init__(self, name: str) -> None:
        self._database = mongomock.MongoClient(tz_aware=True)[name]

    def __getitem__(self, name: str) -> AsyncMockCollection:
        return AsyncMockCollection(self._database[name])

    async def command(self, command: Any, **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return dict(self._database.command(command, **kwargs))
