"""One change fanned out to many partners (``DeliveryEngine.enqueue_many``): every delivery
stored in one commit before any is sent, each then delivered as ``enqueue`` would have, its
body as it was queued (serialised once), and the Locations pushes queue a status change for
all their partners that way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION, Outgoing
from ocpi_gateway.domain.store import DocumentStore, Put, Write
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.locations.conftest import EXAMPLE
from tests.locations.conftest import Receiver as Peer
from tests.locations.outbox_peer import OutboxPeer

FAST = DeliveryPolicy(timeout=2.0, base_backoff=0.01, max_backoff=0.05,
                      concurrency_per_partner=2)


async def token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


class Recorded:
    """The store, recording each ``write_batch``."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.batches: list[list[Write]] = []

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        self.batches.append(list(writes))
        return await self.inner.write_batch(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def to_party(recorded: Any) -> str | None:
    headers = {k.lower(): v for k, v in recorded.headers.items()}
    return headers.get("ocpi-to-party-id")


def patches(url: str, partners: int, status: str) -> list[Outgoing]:
    return [Outgoing(partner_id=f"p{i}", method="PATCH", url=f"{url}/E1",
                     body={"status": status, "last_updated": "2026-12-03T10:00:00Z"},
                     ordering_key=url, coalesce=True,
                     headers={"OCPI-to-party-id": f"P{i:02d}"})
            for i in range(partners)]


async def test_a_fan_out_is_stored_in_one_commit_before_anything_is_sent(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    recorded = Recorded(doc_store)
    outbox = DeliveryEngine(recorded, token, policy=FAST)  # type: ignore[arg-type]
    url = f"{receiver.url}/NL/EXA/L1"
    queued = await outbox.enqueue_many(patches(url, 40, "CHARGING"))
    assert len(recorded.batches) == 1
    assert [type(w) for w in recorded.batches[0]] == [Put] * 40
    # Stored once enqueue_many returned (durable), nothing sent yet (not started).
    stored = {d["id"]: d for d in await doc_store.find(COLLECTION)}
    assert set(stored) == {d.id for d in queued} and len(stored) == 40
    assert {d["partner_id"] for d in stored.values()} == {f"p{i}" for i in range(40)}
    assert receiver.requests == []
    await outbox.start()
    assert await outbox.drain(5)
    await outbox.stop()
    # Each partner got its own PATCH with its own headers, then its row was deleted.
    assert sorted(str(to_party(r)) for r in receiver.of("PATCH")) == [
        f"P{i:02d}" for i in range(40)]
    assert {r.body["status"] for r in receiver.of("PATCH")} == {"CHARGING"}
    assert await doc_store.count(COLLECTION) == 0


async def test_a_fan_out_coalesces_into_waiting_deliveries_like_enqueue(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    outbox = DeliveryEngine(doc_store, token, policy=FAST)  # not started: everything waits
    url = f"{receiver.url}/NL/EXA/L1"
    first = await outbox.enqueue_many(patches(url, 3, "CHARGING"))
    again = await outbox.enqueue_many(patches(url, 3, "AVAILABLE"))
    # The waiting PATCHes were overwritten, not queued behind.
    assert [d.id for d in again] == [d.id for d in first]
    assert outbox.pending() == 3
    assert {d["body"]["status"] for d in await doc_store.find(COLLECTION)} == {"AVAILABLE"}
    stamp = "2026-12-03T10:00:00Z"
    # A PUT of the same object is queued behind them, then a PATCH after it is new again.
    await outbox.enqueue_many([Outgoing(partner_id="p0", method="PUT", url=url,
                                        body={"v": "put"}, ordering_key=url)])
    await outbox.enqueue_many(patches(url, 1, "OUTOFORDER"))
    assert outbox.pending() == 5
    await outbox.start()
    assert await outbox.drain(5)
    await outbox.stop()
    to_p0 = [(r.method, r.body) for r in receiver.requests
             if to_party(r) in ("P00", None)]
    assert to_p0 == [("PATCH", {"status": "AVAILABLE", "last_updated": stamp}),
                     ("PUT", {"v": "put"}),
                     ("PATCH", {"status": "OUTOFORDER", "last_updated": stamp})]
    assert len(receiver.of("PATCH")) == 4


async def test_one_key_twice_in_one_fan_out_keeps_both_in_order(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    outbox = DeliveryEngine(doc_store, token, policy=FAST)
    await outbox.start()
    url = f"{receiver.url}/NL/EXA/L1"
    queued = await outbox.enqueue_many([
        Outgoing(partner_id="p0", method="PUT", url=url, body={"n": n}, ordering_key=url)
        for n in range(6)])
    assert len({d.id for d in queued}) == 6
    assert await outbox.drain(5)
    await outbox.stop()
    assert [r.body["n"] for r in receiver.requests] == list(range(6))


async def test_a_status_change_is_queued_for_every_partner_in_one_commit(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged

    recorded = Recorded(doc_store)
    outbox = DeliveryEngine(recorded, token, policy=FAST)  # type: ignore[arg-type]

    async def receivers() -> list[Receiver]:
        return [Receiver(f"emsp{i}", receiver.url, to_party=("DE", f"E{i:02d}"))
                for i in range(25)]

    publisher = LocationsPublisher(LocationsCatalog.from_file(EXAMPLE), MemoryAvailability(),
                                   store=doc_store, outbox=outbox, receivers=receivers)
    await outbox.start()
    await publisher.start()
    await publisher.settle()
    assert await outbox.drain(5)
    recorded.batches.clear()
    await publisher.on_event(ConnectorStatusChanged(
        charge_point_id="CP-AMS-01", evse_id=None, connector_id=2,
        status=ConnectorStatus.CHARGING))
    await publisher.settle()
    enqueued = [b for b in recorded.batches if any(isinstance(w, Put) for w in b)]
    assert await outbox.drain(5)
    await outbox.stop()
    await publisher.stop()
    assert len(enqueued) == 1 and len(enqueued[0]) == 25
    patched = receiver.of("PATCH")
    assert sorted(str(to_party(r)) for r in patched) == [
        f"E{i:02d}" for i in range(25)]
    assert {r.body["status"] for r in patched} == {"CHARGING"}
    assert receiver.violations == []


async def test_a_fan_out_that_cannot_be_stored_is_retried_then_raised(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    failures = 2

    class Flaky(Recorded):
        async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
            nonlocal failures
            if failures:
                failures -= 1
                raise RuntimeError("database is locked")
            return await super().write_batch(writes)

        async def put(self, collection: str, key: str, doc: dict[str, Any]) -> None:
            raise RuntimeError("database is locked")

    outbox = DeliveryEngine(Flaky(doc_store), token, policy=FAST)  # type: ignore[arg-type]
    url = f"{receiver.url}/NL/EXA/L1"
    queued = await outbox.enqueue_many(patches(url, 5, "CHARGING"))
    # Two refused commits (each batch, then each write alone), the third stores them all.
    assert failures == 0
    assert {d["id"] for d in await doc_store.find(COLLECTION)} == {d.id for d in queued}
    failures = 10
    try:
        await asyncio.wait_for(outbox.enqueue_many(patches(f"{url}X", 5, "CHARGING")), 10)
    except RuntimeError as exc:
        assert "locked" in str(exc)
    else:
        raise AssertionError("a fan-out that cannot be stored must fail its caller")
    # Nothing of the refused fan-out is queued in memory either: it was never durable.
    assert outbox.pending() == 5


async def test_a_coalesced_update_takes_the_new_headers_and_keeps_them_when_none(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    outbox = DeliveryEngine(doc_store, token, policy=FAST)  # not started: everything waits
    url = f"{receiver.url}/NL/EXA/L1"
    first = await outbox.enqueue_many(patches(url, 1, "CHARGING"))
    stamp = first[0].body["last_updated"]
    moved = [Outgoing(partner_id="p0", method="PATCH", url=f"{url}/E1",
                      body={"status": "AVAILABLE"}, ordering_key=url, coalesce=True,
                      headers={"OCPI-to-party-id": "MOVED"})]
    again = await outbox.enqueue_many(moved)
    # An update without headers overwrites the body and keeps the headers it replaced (and,
    # a PATCH, the fields only the one it replaced had: the first's last_updated).
    bare = await outbox.enqueue_many([Outgoing(
        partner_id="p0", method="PATCH", url=f"{url}/E1", body={"status": "BLOCKED"},
        ordering_key=url, coalesce=True)])
    assert [d.id for d in again] == [d.id for d in bare] == [d.id for d in first]
    (stored,) = await doc_store.find(COLLECTION)
    merged = {"status": "BLOCKED", "last_updated": stamp}
    assert stored["body"] == merged
    await outbox.start()
    assert await outbox.drain(5)
    await outbox.stop()
    (patched,) = receiver.of("PATCH")
    assert to_party(patched) == "MOVED" and patched.body == merged


async def test_a_fan_out_cancelled_while_it_is_stored_is_cancelled_not_retried(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    class Held(Recorded):
        async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
            self.batches.append(list(writes))
            entered.set()
            await release.wait()
            return await self.inner.write_batch(writes)

    held = Held(doc_store)
    outbox = DeliveryEngine(held, token, policy=FAST)  # type: ignore[arg-type]
    url = f"{receiver.url}/NL/EXA/L1"
    caller = asyncio.create_task(outbox.enqueue_many(patches(url, 3, "CHARGING")))
    await entered.wait()
    caller.cancel()
    release.set()
    try:
        await asyncio.wait_for(caller, 10)
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("a cancelled caller must see its cancellation")
    # Not written again after the cancellation, and nothing queued in memory.
    assert len(held.batches) == 1
    assert outbox.pending() == 0


async def test_what_is_sent_is_the_body_as_it_was_queued(
    doc_store: DocumentStore, outbox_peer: OutboxPeer
) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST)  # not started: everything waits
    body = {"status": "CHARGING"}
    await outbox.enqueue_many([Outgoing(partner_id=f"p{i}", method="PUT",
                                        url=f"{outbox_peer.url}/L{i}", body=body)
                               for i in range(2)])
    # The producer's object changed afterwards: neither the stored rows nor the requests
    # follow (what is sent is what was durable when enqueue_many returned).
    body["status"] = "CHANGED AFTERWARDS"
    assert [d["body"] for d in await doc_store.find(COLLECTION)] == [{"status": "CHARGING"}] * 2
    await outbox.start()
    assert await outbox.drain(5)
    await outbox.stop()
    assert outbox_peer.bodies() == [{"status": "CHARGING"}] * 2


async def test_a_delivery_without_a_body_is_sent_without_one(
    doc_store: DocumentStore, outbox_peer: OutboxPeer
) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST)
    await outbox.start()
    await outbox.enqueue("p1", "DELETE", f"{outbox_peer.url}/L1")
    assert await outbox.drain(5)
    await outbox.stop()
    [seen] = outbox_peer.requests
    # Not a serialised None (`null`, sent as JSON).
    assert seen.method == "DELETE" and seen.body is None and "Content-Type" not in seen.headers
