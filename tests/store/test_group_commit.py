"""Group commit (ocpi_gateway/deliveries/group_commit.py) on every backend: concurrent writes
share one ``write_batch``, each caller returns only once its write is committed, and a write
that cannot be stored fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ocpi_gateway.deliveries.group_commit import GroupCommit
from ocpi_gateway.domain.store import DocumentStore, Write


class Recorded:
    """The store, recording each batch; ``hold`` (when set) keeps a batch from committing
    until it is released."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.batches: list[list[Write]] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        self.batches.append(list(writes))
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        return await self.inner.write_batch(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_concurrent_writes_share_one_commit(store: DocumentStore) -> None:
    recorded = Recorded(store)
    commits = GroupCommit(recorded)  # type: ignore[arg-type]
    await store.put("things", "old", {"v": 0})
    results = await asyncio.gather(
        *(commits.put("things", f"k{i}", {"v": i}) for i in range(40)),
        *(commits.insert("things", "same", {"v": i}) for i in range(5)),
        commits.insert("things", "old", {"v": 1}),
        commits.delete("things", "k0"))
    assert len(recorded.batches) == 1 and len(recorded.batches[0]) == 47
    assert commits.batches == 1
    inserts = results[40:45]
    assert inserts.count(True) == 1 and inserts.count(False) == 4
    assert results[45] is False
    assert await store.get("things", "same") == {"v": inserts.index(True)}
    assert await store.get("things", "old") == {"v": 0}
    assert await store.get("things", "k0") is None
    assert await store.count("things") == 41


async def test_a_writer_returns_only_once_its_write_is_committed(store: DocumentStore) -> None:
    recorded = Recorded(store)
    recorded.hold = asyncio.Event()
    commits = GroupCommit(recorded)  # type: ignore[arg-type]
    first = asyncio.create_task(commits.put("things", "a", {"v": 1}))
    await recorded.entered.wait()
    # The commit of "a" is under way; "b" and "c" come meanwhile and wait for the next one.
    later = [asyncio.create_task(commits.put("things", k, {"v": 2})) for k in ("b", "c")]
    for _ in range(10):
        await asyncio.sleep(0)
    assert not first.done() and not any(t.done() for t in later)
    assert await store.get("things", "a") is None
    recorded.hold.set()
    await asyncio.gather(first, *later)
    assert [[w.key for w in batch] for batch in recorded.batches] == [["a"], ["b", "c"]]
    assert await store.get("things", "a") == {"v": 1}
    assert await store.get("things", "c") == {"v": 2}


async def test_a_write_that_cannot_be_stored_fails_only_its_caller(
        store: DocumentStore) -> None:
    commits = GroupCommit(store)
    results = await asyncio.gather(
        commits.put("things", "a", {"v": 1}),
        commits.put("things", "bad", {"v": object()}),
        commits.insert("things", "b", {"v": 2}),
        return_exceptions=True)
    assert results[0] is None and results[2] is True
    assert isinstance(results[1], Exception)
    assert await store.get("things", "a") == {"v": 1}
    assert await store.get("things", "b") == {"v": 2}
    assert await store.get("things", "bad") is None
    # The group commit works on after the failure.
    await commits.put("things", "c", {"v": 3})
    assert await store.get("things", "c") == {"v": 3}


async def test_a_backlog_is_committed_in_bounded_batches(store: DocumentStore) -> None:
    recorded = Recorded(store)
    commits = GroupCommit(recorded, max_batch=8)  # type: ignore[arg-type]
    await asyncio.gather(*(commits.put("things", f"k{i:02d}", {"v": i}) for i in range(20)))
    assert [len(batch) for batch in recorded.batches] == [8, 8, 4]
    # In the order they were written.
    assert [w.key for batch in recorded.batches for w in batch] == [
        f"k{i:02d}" for i in range(20)]
    assert await store.count("things") == 20


async def test_writers_waiting_on_a_cancelled_commit_are_not_left_waiting(
        store: DocumentStore) -> None:
    recorded = Recorded(store)
    recorded.hold = asyncio.Event()
    commits = GroupCommit(recorded, max_batch=1)  # type: ignore[arg-type]
    writers = [asyncio.create_task(commits.put("things", k, {"v": 1})) for k in "abc"]
    await recorded.entered.wait()
    flusher = commits._flusher
    assert flusher is not None
    flusher.cancel()
    results = await asyncio.gather(*writers, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    assert await store.count("things") == 0
    # A new write starts a new commit.
    recorded.hold.set()
    await commits.put("things", "d", {"v": 2})
    assert await store.get("things", "d") == {"v": 2}
