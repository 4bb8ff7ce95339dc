"""eMSP receivers that fail: a CommandResult to a receiver answering 500, hanging or answering
slowly is retried with backoff within the command's time, then given up with a log line and a
metric, while the gateway keeps serving everyone else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from ocpi_gateway import keys, metrics
from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.engine import attempt_timeout, next_attempt_at
from ocpi_gateway.deliveries.models import COLLECTION, Delivery
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store.sqlite import SqliteStore
from tests.commands.support import CP201, World, close_world, eventually, open_world, token
from tests.conftest import free_port
from tests.peers.emsp import EmspPeer


def failed(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("ocpi_deliveries_failed_total",
                                             {"reason": reason}) or 0.0


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    opened = await open_world(tmp_path, result_seconds=3)
    yield opened
    await close_world(opened)


@pytest.fixture
async def doc_store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    store = await SqliteStore.open(str(tmp_path / "outbox.db"))
    yield store
    await store.close()


async def second_emsp(world: World) -> EmspPeer:
    """Another eMSP (NL-EMB), registered over the real handshake."""
    peer = EmspPeer(country_code="NL", party_id="EMB", name="Other eMSP")
    await peer.start()
    _, token_a = await world.gateway.partners.invite("other emsp", peer.grants())
    status, body = await peer.register_with(world.gateway.versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    return peer


def result_posts(peer: EmspPeer, name: str) -> int:
    return sum(1 for r in peer.received if r.path.endswith(f"/results/{name}"))


async def test_result_to_a_receiver_answering_500_is_retried_then_given_up(
        world: World) -> None:
    await world.connect(CP201)
    await world.status(CP201, 1, "Available", evse=1)
    world.emsp.results_status = 500
    before = failed("expired")
    with capture_logs() as logs:
        reply = await world.command("RESERVE_NOW", world.reserve_body("r500", evse_uid="E3"))
        assert reply["data"]["result"] == "ACCEPTED"
        gave_up = await eventually(lambda: [e for e in logs
                                            if e["event"] == "delivery_gave_up"], within=30)
    assert gave_up, "the result was never given up"
    assert gave_up[0]["reason"] == "expired" and gave_up[0]["last_error"] == "HTTP 500"
    assert failed("expired") == before + 1
    retries = [e for e in logs if e["event"] == "delivery_retry"]
    # Retried, each retry later than the one before (exponential backoff), every one planned
    # before the result expires; the give-up came when the next would not fit.
    assert len(retries) >= 2
    # One POST per attempt; the last planned retry may find the result expired already.
    assert len(retries) <= result_posts(world.emsp, "r500") <= len(retries) + 1
    waits = [e["retry_in"] for e in retries]
    assert waits == sorted(waits)
    assert all(e["retry_in"] < e["expires_in"] for e in retries)
    assert await world.gateway.app[keys.STORE].find(COLLECTION) == []  # nothing left to retry


async def test_hanging_receiver_is_given_up_and_others_are_served_meanwhile(
        world: World) -> None:
    other = await second_emsp(world)
    try:
        await world.all_available()
        world.emsp.results_delay = 3600.0  # hangs until the test ends
        before = failed("expired")
        with capture_logs() as logs:
            reply = await world.command("RESERVE_NOW",
                                        world.reserve_body("hang", evse_uid="E1"))
            assert reply["data"]["result"] == "ACCEPTED"
            assert await eventually(lambda: world.emsp.results_in_flight > 0)
            # While the first eMSP's receiver holds the result, the other eMSP reserves and
            # gets its result, and /health answers.
            status, answer, _ = await other.call(
                "POST", f"{world.gateway.url}/ocpi/2.2.1/commands/RESERVE_NOW", json={
                    "response_url": other.response_url("other"),
                    "token": token("NLEMB0001", country_code="NL", party_id="EMB"),
                    "expiry_date": world.reserve_body("x")["expiry_date"],
                    "reservation_id": "O1", "location_id": "LOC-1", "evse_uid": "E3"})
            assert status == 200 and answer["data"]["result"] == "ACCEPTED", answer
            got = await eventually(lambda: other.command_results.get("other"), within=10)
            assert got and got[0]["result"] == "ACCEPTED"
            assert world.emsp.results_in_flight > 0  # still hanging meanwhile
            async with world.http.get(f"{world.gateway.url}/health") as health:
                assert health.status == 200
            gave_up = await eventually(lambda: [e for e in logs
                                                if e["event"] == "delivery_gave_up"],
                                       within=30)
        assert gave_up and gave_up[0]["reason"] == "expired"
        assert "Timeout" in gave_up[0]["last_error"]
        assert failed("expired") == before + 1
        assert "hang" not in world.emsp.command_results
    finally:
        await other.close()


async def test_slow_receiver_gets_the_result_once(world: World) -> None:
    await world.connect(CP201)
    await world.status(CP201, 1, "Available", evse=1)
    world.emsp.results_delay = 1.0
    with capture_logs() as logs:
        await world.command("RESERVE_NOW", world.reserve_body("slow", evse_uid="E3"))
        got = await eventually(lambda: world.emsp.command_results.get("slow"), within=20)
    assert got and [r["result"] for r in got] == ["ACCEPTED"]
    assert not [e for e in logs if e["event"] in ("delivery_retry", "delivery_gave_up")]


# --- the policy itself, with the time given -----------------------------------------------------

POLICY = DeliveryPolicy(timeout=10.0, base_backoff=1.0, max_backoff=300.0)


def delivery(attempts: int = 0, expires_at: float | None = None) -> Delivery:
    return Delivery(id="d", partner_id="p", method="POST", url="http://127.0.0.1/r",
                    ordering_key="k", seq=1, attempts=attempts, expires_at=expires_at)


@pytest.mark.parametrize(("expires_at", "now", "expected"), [
    (None, 100.0, 10.0),      # a push that never expires: the policy's timeout
    (200.0, 100.0, 10.0),     # plenty of time left
    (103.0, 100.0, 3.0),      # cut to what is left
    (100.01, 100.0, 0.05),    # just before the expiry: still a chance to connect
])
def test_an_attempt_is_cut_to_the_time_left(expires_at: float | None, now: float,
                                            expected: float) -> None:
    assert attempt_timeout(POLICY, delivery(expires_at=expires_at), now) == pytest.approx(
        expected)


def test_backoff_doubles_and_stops_where_the_delivery_expires() -> None:
    assert [next_attempt_at(POLICY, delivery(n), 0.0, 1.0) for n in (1, 2, 3, 4)] == [
        1.0, 2.0, 4.0, 8.0]
    assert next_attempt_at(POLICY, delivery(1), 0.0, 0.5) == 0.5
    assert next_attempt_at(POLICY, delivery(20), 0.0, 1.0) == 300.0  # capped
    assert next_attempt_at(POLICY, delivery(3, expires_at=5.0), 0.0, 1.0) == 4.0
    assert next_attempt_at(POLICY, delivery(3, expires_at=4.0), 0.0, 1.0) is None
    assert next_attempt_at(POLICY, delivery(30, expires_at=None), 0.0, 1.0) == 300.0


async def test_a_hanging_attempt_ends_at_the_expiry_not_the_policy_timeout(
        doc_store: DocumentStore) -> None:
    hung = asyncio.Event()
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hung.set()
        await release.wait()
        return web.json_response({"status_code": 1000})

    app = web.Application()
    app.router.add_post("/r", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async def headers(_partner: str) -> dict[str, str]:
        return {"Authorization": "Token x"}

    engine = DeliveryEngine(doc_store, headers, policy=DeliveryPolicy(timeout=600.0))
    await engine.start()
    try:
        with capture_logs() as logs:
            await engine.enqueue("p", "POST", f"http://127.0.0.1:{port}/r", {"a": 1},
                                 expires_at=time.time() + 0.5)
            # With the policy's 600 s the worker would still be waiting; cut to the 0.5 s
            # left, it gives up long before this generous bound.
            assert await engine.drain(60.0)
        assert hung.is_set()
        assert [e["reason"] for e in logs if e["event"] == "delivery_gave_up"] == ["expired"]
        assert await doc_store.find(COLLECTION) == []
    finally:
        release.set()
        await engine.stop()
        await runner.cleanup()
