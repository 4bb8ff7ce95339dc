"""A loopback receiver for tests of the outbox's mechanics: it records every request in arrival
order, answers from a script (then 200 / OCPI 1000), can hold requests until the test
releases them, and counts the connections the outbox keeps open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

OK = (200, b'{"status_code": 1000, "timestamp": "2026-11-23T00:00:00Z"}')


def ocpi(http: int, code: int) -> tuple[int, bytes]:
    return http, b'{"status_code": %d, "timestamp": "2026-11-23T00:00:00Z"}' % code


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


class Clock:
    """An injected wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class OutboxPeer:
    url: str = ""
    """The base URL: paths under it are free (``{url}/a``, ``{url}/b``)."""
    requests: list[Seen] = field(default_factory=list)
    script: list[tuple[int, bytes]] = field(default_factory=list)
    """Answers of the next requests, in order; then ``OK``."""
    answer_for: Callable[[web.Request], tuple[int, bytes] | None] | None = None
    """When set and not None for a request: its answer (before the script)."""
    hold: asyncio.Event | None = None
    """When set: requests to paths in ``held`` (all, when empty) wait for it."""
    held: set[str] = field(default_factory=set)
    redirect_to: str | None = None
    """When set: every request is answered 307 to this URL."""
    in_flight: int = 0
    most_in_flight: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    server: web.Server | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(Seen(request.method, request.path,
                                  orjson.loads(raw) if raw else None, dict(request.headers)))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.changed.set()
        try:
            tail = request.path.rsplit("/", 1)[-1]
            if self.hold is not None and (not self.held or tail in self.held):
                await self.hold.wait()
            answer = self.answer_for(request) if self.answer_for else None
            if answer is None:
                answer = self.script.pop(0) if self.script else OK
        finally:
            self.in_flight -= 1
        if self.redirect_to is not None:
            return web.Response(status=307, headers={"Location": self.redirect_to})
        http, body = answer
        return web.Response(status=http, body=body, content_type="application/json")

    def bodies(self, method: str | None = None) -> list[Any]:
        return [r.body for r in self.requests if method is None or r.method == method]

    def connections(self) -> int:
        """Connections open to this receiver (the outbox's keep-alive pool)."""
        assert self.server is not None
        return len(self.server.connections)

    async def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Until ``predicate()`` holds (a hang guard, not a time bound)."""
        for _ in range(1000):
            if predicate():
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 0.05)
            except TimeoutError:
                pass
        raise AssertionError(f"never: {what}; seen {[(r.method, r.path) for r in self.requests]}")


async def serve(peer: OutboxPeer, prefix: str = "/ocpi/emsp/2.2.1") -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", prefix + "/{tail:.*}", peer.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    peer.url = f"http://127.0.0.1:{port}{prefix}"
    peer.server = runner.server
    return runner


async def token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}
