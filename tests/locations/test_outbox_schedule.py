"""When the outbox tries again: the backoff and its bounds, the time one attempt may take, the
spread of retries, the retry counter, and a busy store at enqueue.

Each test would fail if the schedule were computed from ``now - backoff``, without the cap, or
with the jitter outside [0.5, 1] (surviving mutants of deliveries/engine.py, issue 16)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from ocpi_gateway import metrics
from ocpi_gateway.deliveries import Delivery, DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.engine import attempt_timeout, next_attempt_at
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.store import DocumentStore, Write
from tests.locations.outbox_peer import Clock, OutboxPeer, token

NOW = 1_000_000.0


def delivery(attempts: int = 1, expires_at: float | None = None) -> Delivery:
    return Delivery(id="d", partner_id="p", method="PUT", url="http://x/", ordering_key="k",
                    seq=1, attempts=attempts, expires_at=expires_at)


def test_the_default_backoff_starts_at_one_second_doubles_and_stops_at_five_minutes() -> None:
    policy = DeliveryPolicy()
    waits = [next_attempt_at(policy, delivery(n), NOW, 1.0) for n in (1, 2, 3, 9, 10, 30)]
    assert [w - NOW for w in waits if w is not None] == [1.0, 2.0, 4.0, 256.0, 300.0, 300.0]
    # An attempt may take 10 s; a partner's headers are read again after 2 s (a token change
    # or an unregistration takes effect within that).
    assert attempt_timeout(policy, delivery(), NOW) == 10.0
    assert policy.headers_ttl == 2.0 and policy.max_attempts is None


def test_the_backoff_doubles_from_base_and_is_capped_at_max() -> None:
    policy = DeliveryPolicy(base_backoff=3.0, max_backoff=20.0)
    got = [next_attempt_at(policy, delivery(n), NOW, 1.0) for n in (1, 2, 3, 4)]
    assert got == [NOW + 3.0, NOW + 6.0, NOW + 12.0, NOW + 20.0]


def test_the_jitter_scales_the_backoff_after_now() -> None:
    policy = DeliveryPolicy(base_backoff=8.0, max_backoff=100.0)
    assert next_attempt_at(policy, delivery(2), NOW, 0.5) == NOW + 8.0
    assert next_attempt_at(policy, delivery(2), NOW, 0.75) == NOW + 12.0


def test_a_retry_at_or_after_the_expiry_is_none_and_one_before_it_is_kept() -> None:
    policy = DeliveryPolicy(base_backoff=10.0, max_backoff=10.0)
    assert next_attempt_at(policy, delivery(expires_at=NOW + 10.0), NOW, 1.0) is None
    assert next_attempt_at(policy, delivery(expires_at=NOW + 10.5), NOW, 1.0) == NOW + 10.0
    assert next_attempt_at(policy, delivery(expires_at=None), NOW, 1.0) == NOW + 10.0


def test_an_attempt_takes_the_policy_timeout_cut_to_what_is_left_before_the_expiry() -> None:
    policy = DeliveryPolicy(timeout=10.0)
    assert attempt_timeout(policy, delivery(expires_at=None), NOW) == 10.0
    assert attempt_timeout(policy, delivery(expires_at=NOW + 60.0), NOW) == 10.0
    assert attempt_timeout(policy, delivery(expires_at=NOW + 4.0), NOW) == 4.0
    # Started just before the expiry, an attempt still gets 50 ms to connect.
    assert attempt_timeout(policy, delivery(expires_at=NOW + 0.01), NOW) == 0.05
    assert attempt_timeout(policy, delivery(expires_at=NOW - 5.0), NOW) == 0.05


def retries() -> float:
    return metrics.REGISTRY.get_sample_value("ocpi_delivery_retries_total") or 0.0


async def test_every_retry_lands_between_half_and_all_of_the_backoff_after_now(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Twelve deliveries failing once: a jitter outside [0.5, 1] would show in one of them.
    outbox_peer.answer_for = lambda request: (503, b"") if request.method == "PUT" else None
    clock = Clock(NOW)
    outbox = DeliveryEngine(doc_store, token, clock=clock, heartbeat_interval=3600.0,
                            policy=DeliveryPolicy(base_backoff=3600.0, max_backoff=3600.0))
    before = retries()
    await outbox.start()
    try:
        for n in range(12):
            await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L{n}", {"n": n})
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 12, "12 attempts")

        async def retried() -> list[dict[str, Any]]:
            return [row for row in await doc_store.find(COLLECTION) if row["attempts"] == 1]

        for _ in range(600):  # a hang guard: each failure is stored after its answer
            if len(await retried()) == 12:
                break
            await asyncio.sleep(0.02)
        rows = await retried()
        assert len(rows) == 12
        assert all(NOW + 1800.0 <= row["next_attempt_at"] <= NOW + 3600.0 for row in rows)
        assert retries() == before + 12
    finally:
        await outbox.stop()


class LockedStore:
    """The store, answering "database is locked" to the first ``locked`` batches of writes."""

    def __init__(self, inner: DocumentStore, locked: int) -> None:
        self.inner = inner
        self.locked = locked
        self.batches = 0

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        self.batches += 1
        if self.batches <= self.locked:
            raise RuntimeError("database is locked")
        return await self.inner.write_batch(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays asked of asyncio.sleep (which then only yields): the write retries' waits,
    read without waiting for them."""
    delays: list[float] = []
    real = asyncio.sleep

    async def recorded(delay: float, result: Any = None) -> Any:
        if delay > 0:
            delays.append(delay)
        return await real(0, result)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    return delays


async def test_a_busy_store_at_enqueue_is_retried_with_doubling_waits(
        doc_store: DocumentStore, outbox_peer: OutboxPeer, slept: list[float]) -> None:
    store = LockedStore(doc_store, locked=2)
    outbox = DeliveryEngine(store, token, heartbeat_interval=3600.0)  # type: ignore[arg-type]
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    assert slept == [0.02, 0.04]
    assert [row["body"] for row in await doc_store.find(COLLECTION)] == [{"n": 1}]
    assert outbox.pending() == 1


async def test_a_store_locked_for_five_tries_fails_the_enqueue(
        doc_store: DocumentStore, outbox_peer: OutboxPeer, slept: list[float]) -> None:
    store = LockedStore(doc_store, locked=5)
    outbox = DeliveryEngine(store, token, heartbeat_interval=3600.0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="database is locked"):
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    assert store.batches == 5 and slept == [0.02, 0.04, 0.08, 0.16]
    # The caller is told, and nothing is queued that the store does not hold.
    assert outbox.pending() == 0 and await doc_store.find(COLLECTION) == []
    # Unlocked, the next enqueue goes through at its first try.
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 2})
    assert store.batches == 6 and outbox.pending() == 1
