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
        self._waiting: list[asyncio.Future[T]] = []
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        # A future of its own per caller, answered by the read: a caller cancelled leaves the
        # read and the others alone (as a shield would, one callback and future fewer: the
        # outbox asks once per delivery).
        answer: asyncio.Future[T] = loop.create_future()
        self._waiting.append(answer)
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await answer

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                # Everyone in the batch asked before this read begins.
                try:
                    value = await self._read()
                except asyncio.CancelledError:
                    for answer in [*batch, *self._waiting]:
                        answer.cancel()
                    self._waiting = []
                    raise
                except Exception as exc:
                    for answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for answer in batch:
                    if not answer.done():  # its caller was cancelled
                        answer.set_result(value)
        finally:
            self._runner = None
