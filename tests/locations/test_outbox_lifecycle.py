"""The outbox's life: a retry parked on a timer across a restart, what stop() ends and what
it leaves to its caller, the heartbeat, when adoption first runs, and deliveries whose
partner or object is gone.

Tests of surviving mutants of deliveries/engine.py (issue 16); the receiver is a real
loopback aiohttp server (tests/locations/outbox_peer.py)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import aiohttp

from ocpi_gateway import metrics
from ocpi_gateway.deliveries import Delivery, DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES
from ocpi_gateway.domain.store import DocumentStore
from tests.locations.outbox_peer import Clock, OutboxPeer, ocpi, serve, token

NO_BACKGROUND = 3600.0
FAST = DeliveryPolicy(timeout=60.0, base_backoff=0.01, max_backoff=0.02)  # no time-outs when loaded


async def stored(store: DocumentStore) -> list[dict[str, Any]]:
    return [dict(row) for row in await store.find(COLLECTION)]


async def test_a_retry_not_due_at_restart_is_woken_when_it_is(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    outbox_peer.script = [(503, b"")]
    clock = Clock(1_000_000.0)
    outbox = DeliveryEngine(doc_store, token, clock=clock, heartbeat_interval=NO_BACKGROUND,
                            policy=DeliveryPolicy(timeout=60.0, base_backoff=0.2, max_backoff=0.2))
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    for _ in range(600):  # a hang guard: the failed attempt is stored after its answer
        if (await stored(doc_store))[0]["attempts"] == 1:
            break
        await asyncio.sleep(0.02)
    await outbox.stop()
    # Started again while the retry is 0.1-0.2 s away by the clock: the worker finds it not
    # due and must park it on a timer; the clock then reaches it (exactly: due at that time).
    await outbox.start()
    try:
        await asyncio.sleep(0.01)  # the worker has looked at it
        assert len(outbox_peer.requests) == 1
        clock.now = float((await stored(doc_store))[0]["next_attempt_at"])
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}, {"n": 1}]


async def test_stop_closes_the_connections_the_outbox_opened(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    assert await outbox.drain(10)
    assert outbox_peer.connections() == 1  # kept alive for the next push
    # Closed, not merely dropped or idle past the client's keep-alive: no unclosed session
    # or connector is left to the collector.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await outbox.stop()
        del outbox
        gc.collect()
    assert [str(w.message) for w in caught if "Unclosed" in str(w.message)] == []
    await outbox_peer.wait_for(lambda: outbox_peer.connections() == 0, "connection closed")


async def test_stop_leaves_a_session_the_caller_passed_open(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    async with aiohttp.ClientSession() as session:
        outbox = DeliveryEngine(doc_store, token, policy=FAST, session=session,
                                heartbeat_interval=NO_BACKGROUND)
        await outbox.start()
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
        assert await outbox.drain(10)
        await outbox.stop()
        assert not session.closed
        async with session.get(f"{outbox_peer.url}/after") as response:
            assert response.status == 200


async def test_stop_leaves_no_worker_running(doc_store: DocumentStore,
                                             outbox_peer: OutboxPeer) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    await outbox.enqueue("p2", "PUT", f"{outbox_peer.url}/L1", {"n": 2})
    assert await outbox.drain(10)
    await outbox.stop()
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("outbox")]
    assert left == []


async def test_an_instance_heartbeats_while_it_runs_and_not_after_stop(
        doc_store: DocumentStore) -> None:
    clock = Clock(1_000.0)
    outbox = DeliveryEngine(doc_store, token, instance_id="gw-a", clock=clock,
                            heartbeat_interval=0.02)

    async def seen_at() -> float:
        row = await doc_store.get(INSTANCES, "gw-a")
        assert row is not None
        return float(row["seen_at"])

    await outbox.start()
    assert await seen_at() == 1_000.0  # at start
    clock.now = 1_005.0
    try:
        for _ in range(600):  # a hang guard: the loop heartbeats every 20 ms
            if await seen_at() == 1_005.0:
                break
            await asyncio.sleep(0.02)
        assert await seen_at() == 1_005.0
    finally:
        await outbox.stop()
    clock.now = 1_010.0
    await asyncio.sleep(0.3)  # fifteen intervals: a loop left running would heartbeat
    assert await seen_at() == 1_005.0


async def test_a_starting_instance_leaves_adoption_to_its_loop(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Instances restarted together (a redeploy) each heartbeat at start; the first one up
    # must not judge the others dead by their heartbeats from before the restart.
    gone = DeliveryEngine(doc_store, token, instance_id="gw-z", clock=Clock(1_000.0))
    await gone.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    await doc_store.put(INSTANCES, "gw-z", {"id": "gw-z", "seen_at": 1_000.0})
    outbox = DeliveryEngine(doc_store, token, instance_id="gw-b", clock=Clock(2_000.0),
                            orphan_after=60.0, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        await asyncio.sleep(0.2)
        assert outbox.pending() == 0
        assert [row["owner"] for row in await stored(doc_store)] == ["gw-z"]
        assert await outbox.adopt_orphans() == 1  # the loop's run, one interval later
    finally:
        await outbox.stop()


def failed(reason: metrics.DeliveryGiveUp) -> float:
    return metrics.REGISTRY.get_sample_value("ocpi_deliveries_failed_total",
                                             {"reason": reason.value}) or 0.0


async def test_a_delivery_to_a_partner_no_longer_registered_is_kept_dead_unsent(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    async def unregistered(_partner: str) -> dict[str, str] | None:
        return None

    before = failed(metrics.DeliveryGiveUp.PARTNER_GONE)
    outbox = DeliveryEngine(doc_store, unregistered, policy=FAST,
                            heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    [row] = await stored(doc_store)
    assert row["dead"] is True and row["last_error"] == "partner not registered"
    assert outbox_peer.requests == []
    assert failed(metrics.DeliveryGiveUp.PARTNER_GONE) == before + 1


async def resync_run(store: DocumentStore, peer: OutboxPeer, kind: str,
                     target: tuple[str, Any] | None) -> list[dict[str, Any]]:
    """A PATCH the receiver refuses (it lost the object), with a resync of ``kind`` whose
    provider answers ``target``; the rows left once settled."""
    async def provider(_delivery: Delivery) -> tuple[str, Any] | None:
        return target

    outbox = DeliveryEngine(store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    outbox.register_resync("location", provider)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PATCH", f"{peer.url}/L1/E1", {"status": "CHARGING"},
                             resync={"kind": kind})
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    return await stored(store)


def refusing_patches(peer: OutboxPeer, puts_failing: int = 0) -> None:
    failing = [puts_failing]

    def answer(request: aiohttp.web.Request) -> tuple[int, bytes] | None:
        if request.method in ("PATCH", "GET"):
            return ocpi(404, 2003)
        if failing[0] > 0:
            failing[0] -= 1
            return 503, b""
        return None

    peer.answer_for = answer


async def test_a_failed_resync_put_is_retried_as_a_resync_not_as_the_patch(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    refusing_patches(outbox_peer, puts_failing=1)
    rows = await resync_run(doc_store, outbox_peer, "location",
                            (f"{outbox_peer.url}/L1", {"id": "L1"}))
    assert rows == []
    assert [r.method for r in outbox_peer.requests] == ["PATCH", "GET", "PUT", "GET", "PUT"]
    put = outbox_peer.requests[-1]
    assert put.path.endswith("/L1") and put.body == {"id": "L1"}
    assert put.headers["Content-Type"] == "application/json"
    # The GET has no body at all (not a serialised None: `null`, sent as JSON).
    get = outbox_peer.requests[1]
    assert get.body is None and "Content-Type" not in get.headers


async def test_a_resync_whose_object_is_gone_ends_the_delivery(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    refusing_patches(outbox_peer)
    assert await resync_run(doc_store, outbox_peer, "location", None) == []
    assert [r.method for r in outbox_peer.requests] == ["PATCH"]


async def test_a_resync_of_an_unknown_kind_is_kept_dead(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    refusing_patches(outbox_peer)
    [row] = await resync_run(doc_store, outbox_peer, "tariff", ("unused", None))
    assert row["dead"] is True and row["last_error"] == "no resync provider for tariff"
    assert [r.method for r in outbox_peer.requests] == ["PATCH"]


async def test_a_receiver_cannot_redirect_a_push_and_our_token_elsewhere(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Attacker: a receiver answering 307 to a host of its choosing. Following it would hand
    # that host our credentials token (docs/security.md, "Where results go").
    thief = OutboxPeer()
    thief_runner = await serve(thief, prefix="/steal")
    outbox_peer.redirect_to = f"{thief.url}/token"
    outbox = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
        await thief_runner.cleanup()
    assert thief.requests == []
    [row] = await stored(doc_store)
    assert row["dead"] is True and row["last_error"] == "HTTP 307 OCPI None"


async def test_an_outbox_stopped_during_a_resync_resumes_the_resync_not_the_patch(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    refusing_patches(outbox_peer)
    entered = asyncio.Event()

    async def hanging(_delivery: Delivery) -> tuple[str, Any] | None:
        entered.set()
        await asyncio.Event().wait()  # the process dies while the resync runs
        return None

    first = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    first.register_resync("location", hanging)
    await first.start()
    await first.enqueue("p1", "PATCH", f"{outbox_peer.url}/L1/E1", {"status": "CHARGING"},
                        resync={"kind": "location"})
    await asyncio.wait_for(entered.wait(), 30)  # a hang guard
    await first.stop()

    async def provider(_delivery: Delivery) -> tuple[str, Any] | None:
        return f"{outbox_peer.url}/L1", {"id": "L1"}

    again = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    again.register_resync("location", provider)
    await again.start()
    try:
        assert await again.drain(10)
    finally:
        await again.stop()
    # The refused PATCH is not sent again: the restart goes on with the GET and the PUT.
    assert [r.method for r in outbox_peer.requests] == ["PATCH", "GET", "PUT"]
    assert await stored(doc_store) == []


async def test_a_row_from_before_owners_is_taken_by_the_instance_that_loads_it(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # A row an older release stored has no owner: any instance's start loads it. Once one
    # did, its retries must carry that owner, or a second instance starting would send it too.
    outbox_peer.script = [(503, b"")]
    legacy = Delivery(id="old-1", partner_id="p1", method="PUT", url=f"{outbox_peer.url}/L1",
                      body={"n": 1}, ordering_key=f"{outbox_peer.url}/L1", seq=1).to_doc()
    del legacy["owner"], legacy["queued_at"]
    await doc_store.put(COLLECTION, "old-1", legacy)
    outbox = DeliveryEngine(doc_store, token, instance_id="gw-a", clock=Clock(1_000_000.0),
                            heartbeat_interval=NO_BACKGROUND, policy=DeliveryPolicy(
                                timeout=60.0, base_backoff=3600.0, max_backoff=3600.0))
    await outbox.start()
    try:
        for _ in range(600):  # a hang guard: the failed attempt is stored after its answer
            if (await stored(doc_store))[0]["attempts"] == 1:
                break
            await asyncio.sleep(0.02)
        [row] = await stored(doc_store)
        assert row["attempts"] == 1 and row["owner"] == "gw-a"
    finally:
        await outbox.stop()
    other = DeliveryEngine(doc_store, token, instance_id="gw-b", clock=Clock(1_000_000.0),
                           heartbeat_interval=NO_BACKGROUND)
    await other.start()
    try:
        assert other.pending() == 0
    finally:
        await other.stop()


async def test_a_restart_sends_a_delivery_that_was_waiting_for_a_worker_once(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # Stopped while every worker was busy and one object waited for a worker: what was
    # queued before the stop must not be picked up again beside what the restart loads.
    outbox_peer.hold = asyncio.Event()
    outbox = DeliveryEngine(doc_store, token, heartbeat_interval=NO_BACKGROUND,
                            policy=DeliveryPolicy(timeout=60.0, concurrency_per_partner=3))
    await outbox.start()
    for name in ("k1", "k2", "k3", "b"):
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/{name}", {"n": name})
    await outbox_peer.wait_for(lambda: outbox_peer.in_flight == 3, "three workers busy")
    await outbox.stop()
    outbox_peer.held = {"b"}  # from now on only b's requests wait
    await outbox.start()
    try:
        for _ in range(600):  # a hang guard: k1-k3 are delivered, b is held
            if await doc_store.count(COLLECTION) == 1:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the workers free again would have sent b a second time
        assert outbox_peer.bodies().count({"n": "b"}) == 1
        outbox_peer.hold.set()
        assert await outbox.drain(30)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies().count({"n": "b"}) == 1


async def test_a_stopped_outbox_sends_nothing_until_started_again(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    assert await outbox.drain(10)
    await outbox.stop()
    # Queued while stopped (a producer finishing during shutdown): stored, not attempted.
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 2})
    await asyncio.sleep(0.3)
    assert outbox_peer.bodies() == [{"n": 1}]
    assert [row["attempts"] for row in await stored(doc_store)] == [0]
    # Started again with nothing else pending, the partner served before gets its workers
    # back: both the stored delivery and a new one go out.
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L2", {"n": 3})
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert sorted(b["n"] for b in outbox_peer.bodies()) == [1, 2, 3]


async def test_after_a_restart_with_nothing_pending_a_partner_served_before_is_served(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=FAST, heartbeat_interval=NO_BACKGROUND)
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    assert await outbox.drain(10)
    await outbox.stop()
    await outbox.start()
    try:
        await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 2})
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}, {"n": 2}]


async def test_a_quick_restart_leaves_one_timer_per_parked_retry(
        doc_store: DocumentStore, outbox_peer: OutboxPeer) -> None:
    # stop() cancels the retry timers it parked: one left over would wake a second worker
    # for the same object after a restart, and both would send its delivery.
    outbox_peer.script = [(503, b"")]
    clock = Clock(1_000_000.0)
    outbox = DeliveryEngine(doc_store, token, clock=clock, heartbeat_interval=NO_BACKGROUND,
                            policy=DeliveryPolicy(timeout=60.0, base_backoff=0.2,
                                                  max_backoff=0.2))
    await outbox.start()
    await outbox.enqueue("p1", "PUT", f"{outbox_peer.url}/L1", {"n": 1})
    for _ in range(600):  # a hang guard: the failed attempt is stored after its answer
        if (await stored(doc_store))[0]["attempts"] == 1:
            break
        await asyncio.sleep(0.02)
    await outbox.stop()  # its retry was parked on a timer 0.1-0.2 s away
    outbox_peer.hold = asyncio.Event()  # the retry, once sent, stays on the wire
    await outbox.start()
    try:
        await asyncio.sleep(0.01)  # the restarted worker parked it again
        clock.now += 1.0  # due
        await outbox_peer.wait_for(lambda: len(outbox_peer.requests) == 2, "the retry")
        await asyncio.sleep(0.5)  # past every timer either run could have parked
        assert len(outbox_peer.requests) == 2
        outbox_peer.hold.set()
        assert await outbox.drain(10)
    finally:
        await outbox.stop()
    assert outbox_peer.bodies() == [{"n": 1}, {"n": 1}]
