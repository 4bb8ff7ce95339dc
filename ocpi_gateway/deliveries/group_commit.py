"""Group commit: the writes of concurrent coroutines to one store, committed together.

A coroutine that writes waits until its write is committed, as with the store's own call, so
nothing it was told is stored can be lost by a crash after that. Meanwhile the writes other
coroutines make while it waits (in the same turn of the event loop, or during the commit
before) join one ``write_batch``: one transaction, one commit, instead of one each. Under a
burst (CDRs of many sessions finishing at once, the outbox deleting what its workers
delivered) the commit's cost is shared; a lone write waits one turn of the loop more.

A batch that fails is retried write by write through the store's own calls, so one write
that cannot be stored fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from ocpi_gateway.domain.store import Delete, Document, DocumentStore, Insert, Put, Write

log = structlog.get_logger(__name__)

MAX_BATCH = 256
"""Writes per transaction at most: a SQLite transaction holds the write lock (and the event
loop) while it runs, so even a large backlog is committed in bounded steps."""


class GroupCommit:
    def __init__(self, store: DocumentStore, *, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[Write, _Ticket, int]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions committed (a batch, or a write alone after a batch failed)."""

    async def put(self, collection: str, key: str, doc: Document) -> None:
        await self.write(Put(collection, key, doc))

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        """False when the key exists (it stays as it is)."""
        return await self.write(Insert(collection, key, doc))

    async def delete(self, collection: str, key: str) -> None:
        await self.write(Delete(collection, key))

    async def write(self, write: Write) -> bool:
        """Committed once this returns; its result as ``DocumentStore.write_batch`` says. A
        caller cancelled while it waits may still find its write made."""
        return (await self._queue([write]))[0]

    def submit(self, write: Write) -> asyncio.Future[list[bool]]:
        """Queued for the next commit, not waited for: the future answers ``[result]`` once
        it is committed (or the failure)."""
        return self._queue([write])

    async def write_all(self, writes: Sequence[Write]) -> list[bool]:
        """Several writes of one caller (a fan-out's deliveries), committed with the others
        waiting: all committed once this returns, or the first failure raised (the others
        may have been made: the outbox's puts are idempotent, so it retries them all)."""
        if not writes:
            return []
        return await self._queue(writes)

    def _queue(self, writes: Sequence[Write]) -> asyncio.Future[list[bool]]:
        loop = asyncio.get_running_loop()
        # One future for all of one caller's writes (a fan-out's hundred), not one each.
        ticket = _Ticket(loop.create_future(), len(writes))
        self._pending.extend((write, ticket, n) for n, write in enumerate(writes))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush(), name="group-commit")
        return ticket.future

    async def _flush(self) -> None:
        batch: list[tuple[Write, _Ticket, int]] = []
        try:
            # One turn of the loop: the coroutines already running may add their writes.
            await asyncio.sleep(0)
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                await self._commit(batch)
        finally:
            self._flusher = None
            # Cancelled (the loop is closing): no caller may wait for ever on a write that
            # will not be made, neither one queued nor one of the batch being committed
            # (its writes made alone after a failure included). A settled future ignores
            # cancel().
            left, self._pending = self._pending, []
            for _, ticket, _n in [*batch, *left]:
                ticket.future.cancel()

    async def _commit(self, batch: list[tuple[Write, _Ticket, int]]) -> None:
        try:
            results = await self._store.write_batch([write for write, _, _n in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].settle(batch[0][2], exc)
                return
            log.warning("group_commit_batch_failed", writes=len(batch), error=repr(exc))
            for write, ticket, n in batch:
                await self._alone(write, ticket, n)
            return
        self.batches += 1
        for (_, ticket, n), result in zip(batch, results, strict=True):
            ticket.settle(n, result)

    async def _alone(self, write: Write, ticket: _Ticket, n: int) -> None:
        try:
            if isinstance(write, Put):
                await self._store.put(write.collection, write.key, write.doc)
                result = True
            elif isinstance(write, Insert):
                result = await self._store.insert(write.collection, write.key, write.doc)
            else:
                await self._store.delete(write.collection, write.key)
                result = True
        except Exception as exc:
            ticket.settle(n, exc)
            return
        self.batches += 1
        ticket.settle(n, result)


class _Ticket:
    """What one caller waits for: the results of its writes, once all are committed, or the
    first failure."""

    __slots__ = ("future", "left", "results")

    def __init__(self, future: asyncio.Future[list[bool]], count: int) -> None:
        self.future = future
        self.results = [False] * count
        self.left = count

    def settle(self, n: int, outcome: bool | Exception) -> None:
        if self.future.done():  # its caller was cancelled, or an earlier write failed
            return
        if isinstance(outcome, Exception):
            self.future.set_exception(outcome)
            return
        self.results[n] = outcome
        self.left -= 1
        if self.left == 0:
            self.future.set_result(self.results)
