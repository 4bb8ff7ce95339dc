"""The live feed across instances: every change is added to one Redis stream (capped), and
each instance reads it from the moment it started and hands what it reads to its pages.

Writes go through a queue drained by one task, so publishing never waits on Redis; a change
that cannot be written is logged and lost (the page's state is reloaded on its next
reconnect; the figures that matter live in the store)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.console.feed import Change, Hub
from ocpi_gateway.domain.tasks import cancel_and_wait
from ocpi_gateway.redis_clients import RedisClient

log = structlog.get_logger(__name__)

STREAM = "{console}:changes"
MAX_LEN = 10_000
"""Entries kept (approximately): enough for a reader that paused for a moment."""
BLOCK_MS = 1000
"""Below the client's socket timeout; a stop waits at most this long for the read."""


class RedisFeed:
    def __init__(self, redis: RedisClient, *, stream: str = STREAM) -> None:
        self.hub = Hub()
        self._redis: Any = redis
        self._stream = stream
        self._outgoing: asyncio.Queue[Change] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def publish(self, change: Change) -> None:
        self._outgoing.put_nowait(change)

    async def start(self) -> None:
        last = "$"
        try:
            # Read from what is newest now; "$" itself would skip what arrives between two
            # reads, so the id of the stream's last entry is kept instead.
            newest = await self._redis.xrevrange(self._stream, count=1)
            if newest:
                last = _text(newest[0][0])
            else:
                last = "0-0"
        except RedisError:
            log.warning("console_feed_unavailable", stream=self._stream)
        self._tasks = [asyncio.create_task(self._write()),
                       asyncio.create_task(self._read(last))]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            await cancel_and_wait(task, name="console-feed")
        self.hub.close_all()

    async def _write(self) -> None:
        while True:
            change = await self._outgoing.get()
            batch = [change]
            while not self._outgoing.empty() and len(batch) < 500:
                batch.append(self._outgoing.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.xadd(self._stream, {"c": item.encode()}, maxlen=MAX_LEN,
                                  approximate=True)
                    await pipe.execute()
            except RedisError:
                log.warning("console_feed_write_failed", lost=len(batch))

    async def _read(self, last: str) -> None:
        while not self._stopping:
            try:
                batches: Any = await self._redis.xread({self._stream: last}, block=BLOCK_MS,
                                                       count=500)
            except RedisError:
                log.warning("console_feed_read_failed", stream=self._stream)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    raw = fields.get(b"c") or fields.get("c")
                    if raw is None:
                        continue
                    try:
                        self.hub.deliver(Change.decode(raw))
                    except (ValueError, KeyError, TypeError):
                        log.warning("console_feed_bad_entry", entry_id=last)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
