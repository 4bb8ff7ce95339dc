"""The outbox's queues: what coalesces into what, where a late delivery of an object takes its
place, when the outbox counts as drained (stop() too: no delivered row left behind), and how
many requests a partner gets at once.

Tests of surviving mutants of deliveries/engine.py (issue 16); the receiver is a real
loopback aiohttp server (tests/locations/outbox_peer.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES
from ocpi_gateway.domain.store import Delete, DocumentStore, Write
from tests.locations.outbox_peer import Clock, OutboxPeer, ocpi, token

NO_BACKGROUND = 3600.0  # heartbeat interval: adoption runs only when a test calls it
# Attempts may take long: requests held by the receiver must not time out on a loaded machine.
FAST = DeliveryPolicy(timeout=60.0, base_backoff=0.01, max_backoff=0.02)
SLOW_RETRY = DeliveryPolicy(timeout=60.0, base_backoff=3600.0, max_backoff=3600.0)


def engine(store: DocumentStore, **kwargs: object) -> DeliveryEngine:
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("heartbeat_interval", NO_BACKGROUND)
    return DeliveryEngine(store, token, **kwargs)  # type: ignore[arg-type]


def held(peer: OutboxPeer, *tails: str) -> asyncio.Event:
    """Requests (to these last path segments; all, when none) wait until the event is set."""
    peer.hold = asyncio.Event()
    peer.held = set(tails)
    return peer.hold


async def test_a_coalescing_update_replaces_only_the_last_waiting_delivery(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    release = held(outbox_peer)
    outbox = engine(doc_store)
    await outbox.start()
    url = f"{outbox_peer.url}/L1/E1"
    try:
        await outbox.enqueue("p1", "PATCH", url, {"n": 1}, coalesce=True)
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 1, "PATCH 1 sent")
        # Behind the PATCH being sent: a PUT (never coalesced), then a PATCH that the next
        # PATCH replaces, headers and all.
        await outbox.enqueue("p1", "PUT", url, {"n": 2})
        third = await outbox.enqueue("p1", "PATCH", url, {"n": 3}, coalesce=True,
                                     headers={"X-Test": "3"})
        fourth = await outbox.enqueue("p1", "PATCH", url, {"n": 4}, coalesce=True,
                                      headers={"X-Test": "4"})
        assert fourth is third and fourth.body == {"n": 4}
        assert outbox.pending() == 3
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert [(r.method, r.body) for r in outbox_peer.requests] == [
        ("PATCH", {"n": 1}), ("PUT", {"n": 2}), ("PATCH", {"n": 4})]
    assert outbox_peer.requests[-1].headers["X-Test"] == "4"


async def test_a_patch_of_other_fields_coalesces_into_one_with_both(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Partial PATCHes (each with what changed since the one before it): the waiting one takes
    # the later one's fields over its own, so what only the earlier said is still sent.
    release = held(outbox_peer)
    outbox = engine(doc_store)
    await outbox.start()
    url = f"{outbox_peer.url}/B1"
    try:
        await outbox.enqueue("p1", "PUT", url, {"n": 0})
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 1, "PUT sent")
        waiting = await outbox.enqueue("p1", "PATCH", url, {"a": 1, "last_updated": "1"},
                                       coalesce=True)
        merged = await outbox.enqueue("p1", "PATCH", url, {"b": 2, "last_updated": "2"},
                                      coalesce=True)
        assert merged is waiting
        # Stored merged: a restart sends what the waiting one says now.
        [doc] = [d for d in await doc_store.find(COLLECTION) if d["id"] == waiting.id]
        assert doc["body"] == {"a": 1, "b": 2, "last_updated": "2"}
        # A PUT is the whole object: the later one replaces the waiting one, fields and all.
        await outbox.enqueue("p1", "PUT", url, {"x": 1}, coalesce=True)
        await outbox.enqueue("p1", "PUT", url, {"y": 2}, coalesce=True)
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert [(r.method, r.body) for r in outbox_peer.requests] == [
        ("PUT", {"n": 0}), ("PATCH", {"a": 1, "b": 2, "last_updated": "2"}),
        ("PUT", {"y": 2})]


async def test_an_update_never_coalesces_into_the_delivery_being_sent(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    release = held(outbox_peer)
    outbox = engine(doc_store)
    await outbox.start()
    url = f"{outbox_peer.url}/L1/E1"
    try:
        first = await outbox.enqueue("p1", "PATCH", url, {"n": 1}, coalesce=True)
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 1, "PATCH 1 sent")
        second = await outbox.enqueue("p1", "PATCH", url, {"n": 2}, coalesce=True)
        assert second is not first
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}, {"n": 2}]


async def test_an_update_coalesces_into_a_delivery_waiting_for_its_retry(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    outbox_peer.script = [(503, b"")]
    clock = Clock(1_000_000.0)
    outbox = engine(doc_store, policy=SLOW_RETRY, clock=clock)
    await outbox.start()
    url = f"{outbox_peer.url}/L1/E1"
    first = await outbox.enqueue("p1", "PATCH", url, {"n": 1}, coalesce=True)
    for _ in range(600):  # a hang guard: the failed attempt is stored after its answer
        if (await doc_store.find(COLLECTION))[0]["attempts"] == 1:
            break
        await asyncio.sleep(0.02)
    # The failed attempt is over: the waiting delivery takes the newer state.
    assert await outbox.enqueue("p1", "PATCH", url, {"n": 2}, coalesce=True) is first
    await outbox.stop()
    clock.now += 3601.0  # the retry is due
    await outbox.start()
    try:
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}, {"n": 2}]


async def test_a_coalesced_update_is_stored_before_enqueue_returns(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    url = f"{outbox_peer.url}/L1/E1"
    crashed = engine(doc_store)  # never started: its process dies with both updates queued
    await crashed.enqueue("p1", "PATCH", url, {"n": 1}, coalesce=True)
    await crashed.enqueue("p1", "PATCH", url, {"n": 2}, coalesce=True)
    restarted = engine(doc_store)
    await restarted.start()
    try:
        assert await restarted.drain(10)
    finally:
        await restarted.stop()
    assert outbox_peer.bodies() == [{"n": 2}]


async def orphan(store: DocumentStore, url: str) -> None:
    """A delivery of ``url`` left by instance gw-z, which stopped heartbeating long ago (its
    row numbered before anything the survivor enqueues)."""
    gone = engine(store, instance_id="gw-z", clock=Clock(1_000.0))
    await gone.enqueue("p1", "PUT", url, {"n": "orphan"})
    await store.put(INSTANCES, "gw-z", {"id": "gw-z", "seen_at": 1_000.0})


def survivor(store: DocumentStore, **kwargs: object) -> DeliveryEngine:
    return engine(store, instance_id="gw-b", clock=Clock(2_000.0), orphan_after=60.0,
                  **kwargs)


async def test_an_adopted_orphan_goes_before_the_waiting_deliveries_of_its_object(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    url = f"{outbox_peer.url}/L1"
    await orphan(doc_store, url)
    release = held(outbox_peer, "busy")
    outbox = survivor(doc_store, policy=DeliveryPolicy(timeout=60.0, concurrency_per_partner=1))
    await outbox.start()
    try:
        # The partner's one worker is busy elsewhere: L1's deliveries wait, none is sent.
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/busy", {"n": "busy"})
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 1, "busy sent")
        await outbox.enqueue("p1", "PUT", url, {"n": 1})
        await outbox.enqueue("p1", "PUT", url, {"n": 2})
        assert await outbox.adopt_orphans() == 1
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    # The orphan was queued first: it goes first, and each goes once.
    assert outbox_peer.bodies() == [{"n": "busy"}, {"n": "orphan"}, {"n": 1}, {"n": 2}]


async def test_an_adopted_orphan_waits_behind_the_delivery_being_sent(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    url = f"{outbox_peer.url}/L1"
    await orphan(doc_store, url)
    release = held(outbox_peer)
    outbox = survivor(doc_store)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", url, {"n": 1})
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 1, "PUT 1 sent")
        await outbox.enqueue("p1", "PUT", url, {"n": 2})
        assert await outbox.adopt_orphans() == 1
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    # What was on the wire cannot be overtaken; the orphan goes before the later one.
    assert outbox_peer.bodies() == [{"n": 1}, {"n": "orphan"}, {"n": 2}]


async def rows_become(doc_store: DocumentStore, count: int, **where: Any) -> None:
    """Wait until the outbox holds ``count`` rows matching ``where`` (at most 12 s: a hang
    guard, not a timing)."""
    for _ in range(600):
        if await doc_store.count(COLLECTION, where or None) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the outbox never held {count} rows {where}")


async def test_drain_waits_until_every_object_is_delivered(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    assert await engine(doc_store).drain(0)  # nothing queued: drained at once
    release = held(outbox_peer, "slow")
    outbox = engine(doc_store)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/fast", {"n": 1})
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/slow", {"n": 2})
        await rows_become(doc_store, 1)  # the fast one delivered and deleted
        assert not await outbox.drain(0.3)  # the slow one is still out
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()


async def test_drain_waits_for_an_object_being_sent_when_another_is_given_up(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    release = held(outbox_peer, "slow")
    outbox_peer.answer_for = lambda request: (
        ocpi(400, 2001) if request.path.endswith("/refused") else None)
    outbox = engine(doc_store)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/slow", {"n": 1})
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/refused", {"n": 2})
        await rows_become(doc_store, 1, dead=True)  # the refused one kept dead, not deleted
        assert not await outbox.drain(0.3)  # the slow one is still out
        release.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()


class BeforeDeletes:
    """The store, but ``before`` runs ahead of every commit that deletes (and may fail it)."""

    def __init__(self, store: DocumentStore, before: Callable[[], Awaitable[None]]) -> None:
        self._store = store
        self._before = before

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        if any(isinstance(w, Delete) for w in writes):
            await self._before()
        return await self._store.write_batch(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize("fails", [False, True], ids=["committed", "failed"])
async def test_stop_returns_once_the_delivered_rows_are_deleted(
        doc_store: DocumentStore, outbox_peer: OutboxPeer, fails: bool) -> None:
    deleting = asyncio.Event()
    release = asyncio.Event()

    async def held() -> None:
        """Every commit of a delete held until ``release``, then made (or failed, ``fails``)."""
        deleting.set()
        await release.wait()
        if fails:
            raise RuntimeError("disk I/O error")

    outbox = engine(BeforeDeletes(doc_store, held))  # type: ignore[arg-type]
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    await asyncio.wait_for(deleting.wait(), 10)  # delivered, its delete not committed
    # Released a while after stop() began: it must not return before that (a row left
    # would be sent once more at the next start).
    asyncio.get_running_loop().call_later(0.2, release.set)
    await outbox.stop()  # a failed delete is logged, not raised: the stop goes on
    assert release.is_set() and await doc_store.count(COLLECTION) == (1 if fails else 0)


async def test_a_delete_that_fails_is_logged_and_the_outbox_still_drains(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    async def failing() -> None:
        raise RuntimeError("disk I/O error")

    outbox = engine(BeforeDeletes(doc_store, failing))  # type: ignore[arg-type]
    await outbox.start()
    try:
        with capture_logs() as logs:
            await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
            assert await outbox.drain(10)
    finally:
        await outbox.stop()
    [failed] = [e for e in logs if e["event"] == "outbox_delete_failed"]
    assert "disk I/O error" in failed["error"]
    # The row stays: sent once more at the next start, which receivers take as once.
    assert await doc_store.count(COLLECTION) == 1


async def test_a_partner_gets_at_most_eight_requests_at_once_by_default(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    release = held(outbox_peer)
    policy = DeliveryPolicy(timeout=60.0)  # the default concurrency
    outbox = DeliveryEngine(doc_store, token, policy=policy, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        for n in range(9):
            await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L{n}", {"n": n})
        await outbox_peer.wait_for(lambda: outbox_peer.in_flight >= 8, "8 requests at once")
        await asyncio.sleep(0.3)  # a ninth worker would have sent the ninth by now
        assert outbox_peer.most_in_flight == policy.concurrency_per_partner == 8
        assert len(outbox_peer.requests) == 8
        release.set()
        assert await outbox.drain(10)
        assert len(outbox_peer.requests) == 9
    finally:
        await outbox.stop()


async def test_nothing_is_sent_before_start(doc_store: DocumentStore,
                                            outbox_peer: OutboxPeer) -> None:
    # Producers may enqueue while the gateway starts; the outbox sends once start() has
    # loaded what an earlier run left.
    async with aiohttp.ClientSession() as session:
        outbox = engine(doc_store, session=session)
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
        await asyncio.sleep(0.3)
        assert outbox_peer.requests == [] and outbox.pending() == 1
        await outbox.start()
        try:
            assert await outbox.drain(10)
        finally:
            await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}]


async def test_one_receiver_host_gets_at_most_32_connections_from_all_partners(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Five partners behind one host (a hub, one platform's tenants), eight workers each: the
    # outbox's own connection pool holds them to 32 at once on that host.
    release = held(outbox_peer)
    outbox = engine(doc_store)
    await outbox.start()
    try:
        for n in range(40):
            await outbox.enqueue(f"p{n % 5}", "PUT", f"{outbox_peer.url}/L{n}", {"n": n})
        await outbox_peer.wait_for(lambda: outbox_peer.in_flight >= 32, "32 requests at once")
        await asyncio.sleep(0.3)  # a 33rd connection would have carried a request by now
        assert outbox_peer.most_in_flight == 32 and len(outbox_peer.requests) == 32
        release.set()
        assert await outbox.drain(30)
        assert len(outbox_peer.requests) == 40
    finally:
        await outbox.stop()
