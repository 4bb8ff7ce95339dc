"""Fixtures for Locations tests: a loopback eMSP Locations receiver that records requests and
can refuse the first N, and the SQLite DocumentStore to persist the outbox and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store import open_store
from tests.locations.outbox_peer import OutboxPeer, serve
from tests.openapi import OpenApiViolation, validate_request

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "locations.yaml"


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    """A loopback eMSP Locations receiver (``/ocpi/emsp/2.2.1/locations``, and the same under
    ``/2.3.0/``); what it is pushed is validated in the version of the URL."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    refuse_first: int = 0
    refuse_status: int = 503
    refuse_patch_with: tuple[int, int] | None = None  # (HTTP, OCPI) for every PATCH
    stall_first: int = 0
    """Answer that many requests only after ``stall_seconds`` (client time-out tests)."""
    stall_seconds: float = 0.0
    seen: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    validate: bool = True
    """Off only for tests of the outbox's mechanics, which push opaque bodies."""
    violations: list[str] = field(default_factory=list)
    """Pushed bodies breaking the official OpenAPI schema; the fixture fails on the first."""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen += 1
        if self.seen <= self.stall_first:
            await asyncio.sleep(self.stall_seconds)
            return web.Response(status=200, text="too late")
        if self.seen <= self.refuse_first:
            return web.Response(status=self.refuse_status, text="down")
        if request.method == "PATCH" and self.refuse_patch_with:
            http, ocpi = self.refuse_patch_with
            self.requests.append(Recorded("PATCH-REFUSED", request.path, orjson.loads(raw)))
            return web.json_response({"status_code": ocpi, "timestamp": "2026-11-23T00:00:00Z",
                                      "status_message": "unknown object"}, status=http)
        body = orjson.loads(raw) if raw else None
        if request.method in ("PUT", "PATCH") and self.validate:
            try:
                validate_request(request.match_info["version"], request.method,
                                 "/locations/" + request.match_info["tail"], body)
            except OpenApiViolation as exc:
                self.violations.append(str(exc))
        self.requests.append(Recorded(request.method, request.path, body, dict(request.headers)))
        self.arrived.set()
        if request.method == "GET":
            return web.json_response({"status_code": 2003, "timestamp": "2026-11-23T00:00:00Z"},
                                     status=404)
        return web.json_response({"status_code": 1000, "timestamp": "2026-11-23T00:00:00Z"})

    def of(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def url_for(self, version: str) -> str:
        """The receiver's endpoint in another OCPI version (bodies validated in it)."""
        return self.url.replace("/2.2.1/", f"/{version}/")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_route("*", "/ocpi/emsp/{version}/locations/{tail:.*}", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recv.url = f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1/locations"
    yield recv
    await runner.cleanup()
    if recv.violations:
        raise OpenApiViolation(recv.violations[0])


@pytest.fixture
async def doc_store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    """The real SQLite backend on a file, as the embedded gateway runs it."""
    store = await open_store(f"sqlite:///{tmp_path / 'gateway.db'}")
    yield store
    await store.close()


@pytest.fixture
async def outbox_peer() -> AsyncIterator[OutboxPeer]:
    """A receiver for the outbox's mechanics (tests/locations/outbox_peer.py)."""
    recv = OutboxPeer()
    runner = await serve(recv)
    yield recv
    if recv.hold is not None:
        recv.hold.set()
    await runner.cleanup()
