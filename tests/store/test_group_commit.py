"""Group commit (ocpi_gateway/deliveries/group_commit.py) on every backend: concurrent writes
share one ``write_batch``, each caller returns only once its write is committed, and a write
that cannot be stored fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ocpi_gateway.deliveries.group_commit import MAX_BATCH, GroupCommit
from ocpi_gateway.domain.store import Delete, DocumentStore, Insert, Put, Write


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


class Failing(Recorded):
    """The store, failing every batch that holds a write of key ``bad`` (and that write
    alone); ``hold_alone`` (when set) keeps each write done alone waiting until released."""

    def __init__(self, inner: DocumentStore) -> None:
        super().__init__(inner)
        self.alone: list[str] = []
        self.hold_alone: asyncio.Event | None = None

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        self.batches.append(list(writes))
        if any(w.key == "bad" for w in writes):
            raise RuntimeError("cannot store that")
        return await self.inner.write_batch(writes)

    async def _one(self, key: str) -> None:
        self.alone.append(key)
        self.entered.set()
        if self.hold_alone is not None:
            await self.hold_alone.wait()
        if key == "bad":
            raise RuntimeError("cannot store that")

    async def put(self, collection: str, key: str, doc: Any) -> None:
        await self._one(key)
        await self.inner.put(collection, key, doc)

    async def insert(self, collection: str, key: str, doc: Any) -> bool:
        await self._one(key)
        return await self.inner.insert(collection, key, doc)

    async def delete(self, collection: str, key: str) -> None:
        await self._one(key)
        await self.inner.delete(collection, key)


async def test_after_a_failed_batch_each_kind_of_write_is_made_alone_with_its_result(
        store: DocumentStore) -> None:
    await store.put("things", "gone", {"v": 0})
    await store.put("things", "kept", {"v": 0})
    failing = Failing(store)
    commits = GroupCommit(failing)  # type: ignore[arg-type]
    results = await asyncio.gather(
        commits.write(Put("things", "a", {"v": 1})),
        commits.write(Put("things", "bad", {"v": 2})),
        commits.write(Insert("things", "b", {"v": 3})),
        commits.write(Insert("things", "kept", {"v": 4})),
        commits.write(Delete("things", "gone")),
        return_exceptions=True)
    assert results[0] is True and isinstance(results[1], RuntimeError)
    assert results[2:] == [True, False, True]
    assert failing.alone == ["a", "bad", "b", "kept", "gone"]
    assert commits.batches == 4  # each write made alone is a commit of its own
    assert await store.get("things", "a") == {"v": 1}
    assert await store.get("things", "b") == {"v": 3}
    assert await store.get("things", "kept") == {"v": 0}
    assert await store.get("things", "gone") is None


async def test_a_lone_write_that_fails_fails_its_caller_once_tried(store: DocumentStore) -> None:
    failing = Failing(store)
    commits = GroupCommit(failing)  # type: ignore[arg-type]
    try:
        await commits.put("things", "bad", {"v": 1})
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failed write was reported as made")
    # Not tried again alone: its caller (the outbox retries with a backoff) decides.
    assert len(failing.batches) == 1 and failing.alone == []
    assert commits.batches == 0


async def test_writers_of_a_batch_being_retried_alone_are_not_left_waiting_when_cancelled(
        store: DocumentStore) -> None:
    failing = Failing(store)
    failing.hold_alone = asyncio.Event()
    commits = GroupCommit(failing)  # type: ignore[arg-type]
    writers = [asyncio.create_task(commits.put("things", k, {"v": 1}))
               for k in ("bad", "a", "b")]
    await failing.entered.wait()  # the batch failed; its first write is being made alone
    flusher = commits._flusher
    assert flusher is not None
    flusher.cancel()
    _, waiting = await asyncio.wait(writers, timeout=10)  # a hang guard
    assert not waiting, "writers left waiting on a commit that was cancelled"
    assert all(w.cancelled() for w in writers)
    assert await store.count("things") == 0


async def test_writes_made_one_turn_of_the_loop_later_join_the_same_commit(
        store: DocumentStore) -> None:
    recorded = Recorded(store)
    commits = GroupCommit(recorded)  # type: ignore[arg-type]

    async def a_step_later() -> None:
        await asyncio.sleep(0)  # a coroutine already running, one step from its write
        await commits.put("things", "b", {"v": 2})

    first = asyncio.create_task(commits.put("things", "a", {"v": 1}))
    second = asyncio.create_task(a_step_later())
    await asyncio.gather(first, second)
    assert [[w.key for w in batch] for batch in recorded.batches] == [["a", "b"]]


async def test_a_lone_write_is_committed_within_a_few_turns_of_the_loop(
        store: DocumentStore) -> None:
    commits = GroupCommit(store)
    writer = asyncio.create_task(commits.put("things", "a", {"v": 1}))
    for _ in range(20):  # turns of the loop, not time
        if writer.done():
            break
        await asyncio.sleep(0)
    assert writer.done()
    assert await store.get("things", "a") == {"v": 1}


async def test_a_backlog_is_committed_in_transactions_of_max_batch_writes(
        store: DocumentStore) -> None:
    recorded = Recorded(store)
    commits = GroupCommit(recorded)  # type: ignore[arg-type]
    await asyncio.gather(*(commits.put("things", f"k{i}", {"v": i})
                           for i in range(MAX_BATCH + 3)))
    assert [len(batch) for batch in recorded.batches] == [MAX_BATCH, 3]
    assert MAX_BATCH == 256


async def test_write_all_commits_one_callers_writes_together_and_answers_each(
        store: DocumentStore) -> None:
    await store.put("things", "kept", {"v": 0})
    await store.put("things", "gone", {"v": 0})
    recorded = Recorded(store)
    commits = GroupCommit(recorded)  # type: ignore[arg-type]
    results = await commits.write_all([
        Put("things", "a", {"v": 1}), Insert("things", "kept", {"v": 2}),
        Insert("things", "b", {"v": 3}), Delete("things", "gone")])
    # One result per write, in their order, as write_batch answers them.
    assert results == [True, False, True, True]
    assert [[w.key for w in batch] for batch in recorded.batches] == [
        ["a", "kept", "b", "gone"]]
    assert await store.get("things", "a") == {"v": 1}
    assert await store.get("things", "kept") == {"v": 0}
    assert await store.get("things", "b") == {"v": 3}
    assert await store.get("things", "gone") is None
    assert await commits.write_all([]) == []
