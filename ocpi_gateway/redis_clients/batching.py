"""Redis commands of concurrent callers sent together, one pipeline per pass of the event loop.

A reconnect storm runs hundreds of chargers' logins at once, each a few single commands (login
limiter, password fingerprint, presence claim, directory entry). Sent one by one, every command
costs redis-py a pool checkout, a timeout, a write and a read callback: about a third of the
event loop's work per admitted charger (benchmarks/ocpp_restart_storm.py, profiled). A
:class:`CommandBatcher` collects the commands issued during one pass of the loop and sends
them as one non-transactional pipeline; each caller gets its own command's answer (or error).

Commands are independent: nothing of one caller's command depends on another's, and a pipeline
of them is what the callers would have sent one after the other.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ocpi_gateway.redis_clients import RedisClient

MAX_BATCH = 128
"""Commands per pipeline; a longer batch is sent at once and the next one starts."""


class CommandBatcher:
    """``await batcher.execute("EVAL", script, 2, key1, key2, arg)``: the command's answer,
    sent with the other commands issued in the same pass of the event loop."""

    def __init__(self, redis: RedisClient, *, max_batch: int = MAX_BATCH) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._sending: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Pipelines sent (tests, benchmarks)."""

    @property
    def sending(self) -> int:
        """Pipelines sent and not answered yet."""
        return len(self._sending)

    async def execute(self, *command: Any) -> Any:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, answer))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._flush_scheduled:
            # call_soon runs after every callback already due in this pass: the commands
            # they issue go out in this batch.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await answer

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.batches += 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for command, _ in batch:
                    pipe.execute_command(*command)
                answers = await pipe.execute(raise_on_error=False)
        except Exception as failure:  # every caller decides what a failure means to it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(failure)
            return
        for (_, answer), result in zip(batch, answers, strict=True):
            if answer.done():  # the caller gave up (cancelled)
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def drain(self) -> None:
        """Wait for the batches being sent (before the client is closed)."""
        if self._pending:
            self._flush()
        await asyncio.gather(*self._sending, return_exceptions=True)
