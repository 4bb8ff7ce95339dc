"""One store read shared by every caller that is waiting for it.

The partner epoch is read on every authenticated request (docs/security.md, "Which tokens
exist"). Under load, requests that arrive while a read is in flight wait for the next read
instead of issuing one each, so one read serves a whole batch. A caller only ever gets a read
that began after it asked: a change committed before the request arrived is always seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._waiting: asyncio.Future[T] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> T:
        if self._waiting is None:
            self._waiting = asyncio.get_running_loop().create_future()
        waiting = self._waiting
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())
        # Shielded: a cancelled caller must not cancel the read the others wait for.
        return await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while self._waiting is not None:
                batch, self._waiting = self._waiting, None
                # Everyone in the batch asked before this read begins.
                try:
                    batch.set_result(await self._read())
                except asyncio.CancelledError:
                    batch.cancel()
                    raise
                except Exception as exc:
                    batch.set_exception(exc)
                    batch.exception()  # retrieved: callers that left must not warn
        finally:
            self._runner = None
