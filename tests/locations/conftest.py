"""Fixtures for Locations tests: a loopback eMSP Locations receiver that records requests and
can refuse the first N, and a DocumentStore to persist the outbox and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from domain.store import Document

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "locations.yaml"


class MemoryDocumentStore:
    """A complete in-process DocumentStore; a test that "restarts" keeps the object."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Document]] = {}

    async def get(self, collection: str, key: str) -> Document | None:
        doc = self.data.get(collection, {}).get(key)
        return orjson.loads(orjson.dumps(doc)) if doc is not None else None

    async def put(self, collection: str, key: str, doc: Document) -> None:
        self.data.setdefault(collection, {})[key] = orjson.loads(orjson.dumps(doc))

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        if key in self.data.get(collection, {}):
            return False
        await self.put(collection, key, doc)
        return True

    async def replace_if(self, collection: str, key: str, doc: Document, *,
                         expected: dict[str, Any]) -> bool:
        current = self.data.get(collection, {}).get(key)
        if current is None or any(current.get(k) != v for k, v in expected.items()):
            return False
        await self.put(collection, key, doc)
        return True

    async def delete(self, collection: str, key: str) -> bool:
        return self.data.get(collection, {}).pop(key, None) is not None

    async def find(self, collection: str, where: dict[str, Any] | None = None, *,
                   order_by: str | None = None, limit: int | None = None,
                   offset: int = 0) -> list[Document]:
        docs = [d for d in self.data.get(collection, {}).values()
                if all(d.get(k) == v for k, v in (where or {}).items())]
        if order_by:
            docs.sort(key=lambda d: d[order_by])
        docs = docs[offset: offset + limit if limit is not None else None]
        return [orjson.loads(orjson.dumps(d)) for d in docs]

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        return len(await self.find(collection, where))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class Receiver:
    """A loopback eMSP Locations receiver (``/ocpi/emsp/2.2.1/locations``)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    refuse_first: int = 0
    refuse_status: int = 503
    refuse_patch_with: tuple[int, int] | None = None  # (HTTP, OCPI) for every PATCH
    seen: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen += 1
        if self.seen <= self.refuse_first:
            return web.Response(status=self.refuse_status, text="down")
        if request.method == "PATCH" and self.refuse_patch_with:
            http, ocpi = self.refuse_patch_with
            self.requests.append(Recorded("PATCH-REFUSED", request.path, orjson.loads(raw)))
            return web.json_response({"status_code": ocpi, "timestamp": "2026-11-23T00:00:00Z",
                                      "status_message": "unknown object"}, status=http)
        body = orjson.loads(raw) if raw else None
        self.requests.append(Recorded(request.method, request.path, body))
        self.arrived.set()
        if request.method == "GET":
            return web.json_response({"status_code": 2003, "timestamp": "2026-11-23T00:00:00Z"},
                                     status=404)
        return web.json_response({"status_code": 1000, "timestamp": "2026-11-23T00:00:00Z"})

    def of(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_route("*", "/ocpi/emsp/2.2.1/locations/{tail:.*}", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recv.url = f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1/locations"
    yield recv
    await runner.cleanup()


@pytest.fixture
def doc_store() -> MemoryDocumentStore:
    return MemoryDocumentStore()
