"""The gateway's listening socket: a deep kernel queue, drained in small batches.

After a restart thousands of chargers connect within the same second. asyncio uses one number
for two things: the kernel's listen backlog and how many connections it accepts per wake-up
of the event loop. With aiohttp's 128 the kernel drops SYNs (chargers retry seconds later);
with 4096 for both, one pass of the loop accepted ~4,000 connections and the next parsed their
requests, while a connected charger's Heartbeat waited behind them for seconds
(docs/decisions.md, "Restart storms"). :class:`StormSite` sets them apart: the kernel queues
``backlog`` connections (Linux caps it at ``net.core.somaxconn``), the loop takes at most
``accept_batch`` of them per pass, so a pass of the loop stays short and connected chargers'
frames are read between batches.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from aiohttp import web

BACKLOG = 4096
"""Connections the kernel holds for us (a storm of this many is refused nothing)."""
ACCEPT_BATCH = 16
"""Connections the event loop accepts per pass; the rest wait in the kernel's queue."""


class StormSite(web.TCPSite):
    """A :class:`aiohttp.web.TCPSite` whose kernel queue is ``backlog`` deep while its event
    loop accepts at most ``accept_batch`` connections at a time."""

    __slots__ = ("_queue_depth",)

    def __init__(self, runner: web.BaseRunner, host: str | None = None,
                 port: int | None = None, *, backlog: int = BACKLOG,
                 accept_batch: int = ACCEPT_BATCH, **kwargs: Any) -> None:
        super().__init__(runner, host, port, backlog=accept_batch, **kwargs)
        self._queue_depth = backlog

    async def start(self) -> None:
        await super().start()
        server = self._server
        if isinstance(server, asyncio.Server):
            for listening in server.sockets:
                deepen_backlog(listening.fileno(), self._queue_depth)


def deepen_backlog(fileno: int, backlog: int) -> None:
    """``listen()`` again with a deeper queue (Linux keeps the socket listening and only
    changes the backlog); on a duplicate of the descriptor, so asyncio keeps its own."""
    with socket.socket(fileno=os.dup(fileno)) as listening:
        listening.listen(backlog)
