"""The outbox reads time only through its injected clocks: retries, expiries, the orphan
heartbeat and the partner-headers cache follow the test's clock, not the machine's."""

from __future__ import annotations

import asyncio

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.store import DocumentStore
from tests.locations.conftest import Receiver

PATCH_BODY = {"status": "CHARGING", "last_updated": "2026-11-23T00:00:00Z"}
# A retry an hour away on the machine's clock: any retry seen in a test came from its clock.
SLOW_RETRY = DeliveryPolicy(base_backoff=3600.0, max_backoff=3600.0, timeout=10.0)
NO_BACKGROUND = 3600.0  # heartbeat interval: adoption runs only when the test calls it


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dG9rZW4="}


async def stored_rows(store: DocumentStore) -> list[dict[str, object]]:
    return [dict(d) for d in await store.find(COLLECTION)]


async def wait_for_attempts(store: DocumentStore, attempts: int) -> dict[str, object]:
    for _ in range(600):
        rows = await stored_rows(store)
        if rows and rows[0]["attempts"] == attempts:
            return rows[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no row reached {attempts} attempts: {await stored_rows(store)}")


async def test_a_retry_is_due_by_the_injected_clock(doc_store: DocumentStore,
                                                    receiver: Receiver) -> None:
    receiver.refuse_first = 1
    clock = Clock(1_000_000.0)
    outbox = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=clock,
                            heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    await outbox.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY)
    row = await wait_for_attempts(doc_store, 1)
    # Backoff with jitter in [0.5, 1] after the injected now, never before it.
    assert 1_000_000.0 + 1800.0 <= float(str(row["next_attempt_at"])) <= 1_000_000.0 + 3600.0
    await outbox.stop()
    assert receiver.seen == 1

    # Started again before the retry is due by the clock: nothing is sent.
    clock.now += 1799.0
    await outbox.start()
    await asyncio.sleep(0.2)
    assert receiver.seen == 1 and outbox.pending() == 1
    await outbox.stop()

    # Once the clock passes it, the retry goes out (the machine's hour has not passed).
    clock.now += 1802.0
    await outbox.start()
    try:
        assert await outbox.drain(30)
        assert receiver.seen == 2 and outbox.delivered == 1
        assert await stored_rows(doc_store) == []
    finally:
        await outbox.stop()


async def test_an_expired_delivery_is_dropped_by_the_injected_clock(
        doc_store: DocumentStore, receiver: Receiver) -> None:
    clock = Clock(5_000.0)
    outbox = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=clock,
                            heartbeat_interval=NO_BACKGROUND)
    # Queued before start: nothing is attempted until the clock has passed the expiry.
    await outbox.enqueue("p1", "POST", f"{receiver.url}/result", {"result": "ACCEPTED"},
                         expires_at=5_010.0)
    clock.now = 5_010.0  # expiry reached exactly: the receiver stopped waiting
    await outbox.start()
    try:
        assert await outbox.drain(30)
        assert receiver.seen == 0 and outbox.delivered == 0
        assert await stored_rows(doc_store) == []
    finally:
        await outbox.stop()


async def test_a_retry_past_the_expiry_gives_up_at_once(doc_store: DocumentStore,
                                                        receiver: Receiver) -> None:
    receiver.refuse_first = 10
    clock = Clock(5_000.0)
    outbox = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=clock,
                            heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        # The next try (at least 1800 s away) would land after the expiry: given up.
        await outbox.enqueue("p1", "POST", f"{receiver.url}/result", {"result": "ACCEPTED"},
                             expires_at=5_000.0 + 1_000.0)
        assert await outbox.drain(30)
        assert receiver.seen == 1
        assert await stored_rows(doc_store) == []
    finally:
        await outbox.stop()


async def test_an_instance_is_orphaned_once_its_heartbeat_is_older_than_orphan_after(
        doc_store: DocumentStore, receiver: Receiver) -> None:
    receiver.refuse_first = 10_000
    gone = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, instance_id="gw-gone",
                          clock=Clock(2_000.0), heartbeat_interval=NO_BACKGROUND)
    await gone.start()  # heartbeat at 2000
    await gone.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY)
    await gone.stop()
    clock = Clock(2_060.0)
    survivor = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, instance_id="gw-b",
                              clock=clock, orphan_after=60.0,
                              heartbeat_interval=NO_BACKGROUND)
    await survivor.start()
    try:
        assert await survivor.adopt_orphans() == 0  # exactly 60 s old: still alive
        assert survivor.pending() == 0
        clock.now = 2_060.5
        assert await survivor.adopt_orphans() == 1
        assert survivor.pending() == 1
        rows = await stored_rows(doc_store)
        assert [r["owner"] for r in rows] == ["gw-b"]
    finally:
        await survivor.stop()


async def test_a_restart_numbers_after_the_stored_rows(doc_store: DocumentStore,
                                                       receiver: Receiver) -> None:
    receiver.refuse_first = 10_000
    first = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=Clock(9_000.0),
                           heartbeat_interval=NO_BACKGROUND)
    old = await first.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY)
    assert old.seq == 9_000 * 1_000_000_000
    # A restart whose clock went back (another machine, a clock step) still numbers after.
    again = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=Clock(10.0),
                           heartbeat_interval=NO_BACKGROUND)
    await again.start()
    try:
        new = await again.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E2", PATCH_BODY)
        assert new.seq == old.seq + 1
    finally:
        await again.stop()


async def test_partner_headers_are_reused_for_headers_ttl_by_the_monotonic_clock(
        doc_store: DocumentStore, receiver: Receiver) -> None:
    reads: list[str] = []

    async def counted(partner: str) -> dict[str, str]:
        reads.append(partner)
        return await token(partner)

    monotonic = Clock(100.0)
    outbox = DeliveryEngine(doc_store, counted, policy=DeliveryPolicy(headers_ttl=2.0),
                            monotonic=monotonic, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        for n, now in enumerate((100.0, 101.9, 102.0)):
            monotonic.now = now
            await outbox.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E{n}", PATCH_BODY)
            assert await outbox.drain(30)
        # Read at 100, reused at 101.9 (younger than the TTL), read again at 102.
        assert reads == ["p1", "p1"]
        assert outbox.delivered == 3
    finally:
        await outbox.stop()


async def test_a_delivery_is_queued_at_the_injected_clock(doc_store: DocumentStore,
                                                          receiver: Receiver) -> None:
    # A row an earlier release stored, without queued_at: loaded and delivered as ever.
    await doc_store.put(COLLECTION, "old", {
        "id": "old", "partner_id": "p1", "method": "PATCH",
        "url": f"{receiver.url}/NL/EXA/L1/E9", "body": PATCH_BODY, "ordering_key": "old",
        "seq": 1, "attempts": 0, "next_attempt_at": 0.0, "dead": False, "owner": None})
    clock = Clock(7_000.0)
    outbox = DeliveryEngine(doc_store, token, policy=SLOW_RETRY, clock=clock,
                            heartbeat_interval=NO_BACKGROUND)
    first = await outbox.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY,
                                 coalesce=True)
    clock.now = 7_005.5
    # Coalesced into the waiting one: it keeps the moment it was first queued.
    same = await outbox.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E1", PATCH_BODY,
                                coalesce=True)
    other = await outbox.enqueue("p1", "PATCH", f"{receiver.url}/NL/EXA/L1/E2", PATCH_BODY)
    assert same is first
    rows = {r["id"]: r["queued_at"] for r in await stored_rows(doc_store) if r["id"] != "old"}
    assert rows == {first.id: 7_000.0, other.id: 7_005.5}
    await outbox.start()
    try:
        assert await outbox.drain(30)
        assert outbox.delivered == 3 and await stored_rows(doc_store) == []
    finally:
        await outbox.stop()
