"""Several gateway instances sharing one outbox: each delivers its own rows, and the survivors
adopt the rows of an instance that stopped heartbeating."""

from __future__ import annotations

import asyncio
import time

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES
from ocpi_gateway.domain.store import DocumentStore
from tests.locations.conftest import Receiver

# A generous attempt timeout: a loaded machine must not turn an accepted PATCH into a retry
# (the receiver would see it twice).
FAST = DeliveryPolicy(base_backoff=0.05, max_backoff=0.1, timeout=10.0)
PATCH_BODY = {"status": "CHARGING", "last_updated": "2026-11-23T00:00:00Z"}


async def token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dG9rZW4="}


def engine(store: DocumentStore, name: str, **kwargs: float) -> DeliveryEngine:
    return DeliveryEngine(store, token, policy=FAST, instance_id=name, **kwargs)


async def test_a_live_instance_keeps_its_rows(doc_store: DocumentStore,
                                              receiver: Receiver) -> None:
    receiver.refuse_first = 10_000  # nothing gets through while we look
    a = engine(doc_store, "gw-a")
    await a.start()
    await a.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY)
    b = engine(doc_store, "gw-b", heartbeat_interval=0.05, orphan_after=5.0)
    await b.start()
    try:
        assert b.pending() == 0  # started after a, yet does not take a's row
        assert await b.adopt_orphans() == 0
        assert a.pending() == 1
    finally:
        await b.stop()
        await a.stop()


async def test_rows_of_a_stopped_instance_are_adopted_once(doc_store: DocumentStore,
                                                           receiver: Receiver) -> None:
    receiver.refuse_first = 10_000
    a = engine(doc_store, "gw-a", heartbeat_interval=60.0)
    await a.start()
    for n in range(3):
        await a.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E{n}", PATCH_BODY)
    await a.stop()  # gw-a is gone: its rows stay in the store, its heartbeat ages
    receiver.refuse_first = 0
    receiver.seen = 0
    b = engine(doc_store, "gw-b", heartbeat_interval=0.05, orphan_after=0.2)
    c = engine(doc_store, "gw-c", heartbeat_interval=0.05, orphan_after=0.2)
    # A start takes none of another instance's rows (adoption comes later, in the
    # background: checked before anything else can run).
    await b.start()
    assert b.pending() == 0
    await c.start()
    assert c.pending() == 0
    try:
        for _ in range(600):
            if len(receiver.of("PATCH")) >= 3:
                break
            await asyncio.sleep(0.05)
        # Nothing left anywhere: no second delivery of a row can still come.
        assert await b.drain(30) and await c.drain(30)
        patched = sorted(r.path for r in receiver.of("PATCH"))
        assert patched == sorted({p for p in patched}) and len(patched) == 3  # each once
        assert b.delivered + c.delivered == 3
    finally:
        await b.stop()
        await c.stop()


async def test_orphans_listed_after_live_instances_are_adopted(doc_store: DocumentStore,
                                                               receiver: Receiver) -> None:
    receiver.refuse_first = 10_000
    gone = engine(doc_store, "gw-z")
    await gone.start()
    for n in range(2):
        await gone.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E{n}", PATCH_BODY)
    await gone.stop()
    # The instance table lists a live instance and this one before the dead gw-z (ids and
    # insertion order alike): adoption must look past them.
    await doc_store.delete(INSTANCES, "gw-z")
    await doc_store.put(INSTANCES, "gw-a", {"id": "gw-a", "seen_at": time.time() + 3600})
    survivor = engine(doc_store, "gw-b", orphan_after=60.0)
    await survivor.start()
    await doc_store.put(INSTANCES, "gw-z", {"id": "gw-z", "seen_at": time.time() - 3600})
    try:
        assert await survivor.adopt_orphans() == 2
        assert survivor.pending() == 2
        owners = {row["owner"] for row in await doc_store.find(COLLECTION)}
        assert owners == {"gw-b"}
        assert {doc["id"] for doc in await doc_store.find(INSTANCES)} == {"gw-a", "gw-b"}
    finally:
        await survivor.stop()
