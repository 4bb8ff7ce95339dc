"""One store read shared by every caller that was already queued when it began.

The partner epoch is read on every authenticated request (docs/security.md, "Which tokens
exist"). A caller reads afresh unless a read began in the present window: from the moment a
read begins until the event loop runs a callback scheduled at that moment. The loop runs its
callbacks in the order they were scheduled, so whatever runs in that window was scheduled
before the read began, and so was everything it was woken for: a request it handles had been
received (aiohttp parses a request in one callback and runs its handler in a task scheduled
from it). The read therefore sees every change committed before such a request arrived, as a
read of its own would. The task that began a read never joins it again: it may have caused a
change since (through another instance's store in this process, as tests do), so its next
question gets a read of its own. A read already done when a caller asks costs the caller
nothing: no await, no future; under load one read (a few microseconds on SQLite) serves every
request handled in that loop iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._current: asyncio.Future[T] | None = None
        """The read callers may join: None once the loop ran past its window."""
        self._reader: asyncio.Task[Any] | None = None

    async def get(self) -> T:
        current = self._current
        if current is None or self._reader is asyncio.current_task():
            return await self._begin()
        if current.done() and not current.cancelled():
            return current.result()
        try:
            # Shielded: a cancelled caller must not cancel the read the others wait for.
            return await asyncio.shield(current)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if current.cancelled() and (task is None or not task.cancelling()):
                # The caller that began it was cancelled, not this one: read again.
                return await self.get()
            raise

    def settled(self) -> asyncio.Future[T] | None:
        """The read ``get()`` would answer with at once (one begun in the present window by
        another task, done, not failed), for a caller that would rather not await; None: call
        ``get()``."""
        current = self._current
        if (current is None or not current.done() or current.cancelled()
                or current.exception() is not None
                or self._reader is asyncio.current_task()):
            return None
        return current

    def forget(self) -> None:
        """Callers from now on read afresh (this process just changed what is read)."""
        self._current = None

    async def _begin(self) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._current = future
        self._reader = asyncio.current_task()
        loop.call_soon(self._close, future)
        try:
            value = await self._read()
        except asyncio.CancelledError:
            future.cancel()
            self._close(future)
            raise
        except Exception as exc:
            # Its window stays: the callers queued with this one fail with it, not each
            # with a read of its own against a failing store.
            future.set_exception(exc)
            future.exception()  # retrieved: callers that left must not warn
            raise
        future.set_result(value)
        return value

    def _close(self, future: asyncio.Future[T]) -> None:
        if self._current is future:
            self._current = None
