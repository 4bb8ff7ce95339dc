"""What the outbox makes of each kind of answer: delivered, retried, or given up (dead).

transport_and_format: an OCPI answer carries its own status_code beside the HTTP status; 1xxx
is success, 2xxx a client error (the request is wrong: retrying cannot help), 3xxx a server
error (the receiver may recover). A server-side HTTP error, 408 and 429 are worth retrying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from ocpi_gateway import metrics
from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.store import DocumentStore

FAST = DeliveryPolicy(timeout=2.0, base_backoff=0.01, max_backoff=0.02)
OK = (200, b'{"status_code": 1000, "timestamp": "2026-11-23T00:00:00Z"}')


def ocpi(http: int, code: object) -> tuple[int, bytes]:
    return http, (b'{"status_code": %s, "timestamp": "2026-11-23T00:00:00Z"}'
                  % str(code).encode())


@dataclass
class Scripted:
    """Answers the first requests from ``script``, then 200 / OCPI 1000."""

    url: str = ""
    script: list[tuple[int, bytes]] = field(default_factory=list)
    seen: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen += 1
        http, body = self.script.pop(0) if self.script else OK
        return web.Response(status=http, body=body, content_type="application/json")


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    peer = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    peer.url = f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1/locations/NL/EXA/L1"
    yield peer
    await runner.cleanup()


async def _headers(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


async def _push(peer: Scripted, store: DocumentStore) -> list[dict[str, object]]:
    """One PUT through a fresh outbox until it is settled; the rows left (dead ones)."""
    outbox = DeliveryEngine(store, _headers, policy=FAST)
    await outbox.start()
    try:
        await outbox.enqueue("emsp", "PUT", peer.url, {"id": "L1"})
        assert await outbox.drain(5)
    finally:
        await outbox.stop()
    return await store.find(COLLECTION)


@pytest.mark.parametrize("answer", [
    (500, b"boom"), (503, b""), (408, b""), (429, b""),
    ocpi(200, 3000), ocpi(200, 3001), ocpi(502, 3000),
], ids=["500", "503", "408", "429", "200-3000", "200-3001", "502-3000"])
async def test_answers_worth_retrying_are_retried_until_accepted(
    answer: tuple[int, bytes], scripted: Scripted, doc_store: DocumentStore
) -> None:
    scripted.script = [answer, answer]
    assert await _push(scripted, doc_store) == []
    assert scripted.seen == 3  # twice the answer, then accepted


@pytest.mark.parametrize(("answer", "error"), [
    ((500, b"boom"), "HTTP 500"), ((408, b""), "HTTP 408"), ((401, b""), "HTTP 401"),
    (ocpi(200, 3000), "HTTP 200 OCPI 3000"), (ocpi(502, 3000), "HTTP 502"),
], ids=["500", "408", "401", "200-3000", "502-3000"])
async def test_a_retried_answer_is_kept_as_the_last_error(
    answer: tuple[int, bytes], error: str, scripted: Scripted, doc_store: DocumentStore
) -> None:
    # One attempt allowed: the row is given up on, keeping why the attempt failed (an
    # operator reads it in the dead letters), not "internal error".
    scripted.script = [answer]
    # A long attempt time: a loaded machine must not turn the answer into a time-out.
    outbox = DeliveryEngine(doc_store, _headers, policy=DeliveryPolicy(
        timeout=30.0, base_backoff=0.01, max_backoff=0.02, max_attempts=1))
    await outbox.start()
    try:
        await outbox.enqueue("emsp", "PUT", scripted.url, {"id": "L1"})
        assert await outbox.drain(5)
    finally:
        await outbox.stop()
    [row] = await doc_store.find(COLLECTION)
    assert row["dead"] is True and row["attempts"] == 1 and row["last_error"] == error
    assert scripted.seen == 1


@pytest.mark.parametrize(("answer", "error"), [
    (ocpi(200, 2001), "HTTP 200 OCPI 2001"), (ocpi(200, 2000), "HTTP 200 OCPI 2000"),
    (ocpi(404, 2003), "HTTP 404 OCPI 2003"), ((400, b"no"), "HTTP 400 OCPI None"),
    (ocpi(300, 1000), "HTTP 300 OCPI 1000"), (ocpi(200, 2999), "HTTP 200 OCPI 2999"),
], ids=["200-2001", "200-2000", "404-2003", "400", "300-1000", "200-2999"])
async def test_refusals_are_given_up_at_once_and_kept_dead(
    answer: tuple[int, bytes], error: str, scripted: Scripted, doc_store: DocumentStore
) -> None:
    scripted.script = [answer]
    [row] = await _push(scripted, doc_store)
    assert row["dead"] is True and row["last_error"] == error
    assert scripted.seen == 1


@pytest.mark.parametrize("answer", [
    OK, ocpi(201, 1000), ocpi(200, 1999), (200, b""), (200, b"not json"),
    (200, b'{"status_code": "2001"}'), (204, b""),
], ids=["200-1000", "201-1000", "200-1999", "empty", "not-json", "code-not-int", "204"])
async def test_acceptances_are_delivered_once(
    answer: tuple[int, bytes], scripted: Scripted, doc_store: DocumentStore
) -> None:
    scripted.script = [answer]
    before = metrics.REGISTRY.get_sample_value("ocpi_deliveries_succeeded_total") or 0.0
    assert await _push(scripted, doc_store) == []
    assert scripted.seen == 1
    assert metrics.REGISTRY.get_sample_value("ocpi_deliveries_succeeded_total") == before + 1


async def test_a_stopped_outbox_started_again_delivers_what_was_pending(
    scripted: Scripted, doc_store: DocumentStore
) -> None:
    scripted.script = [(503, b"")] * 10_000
    outbox = DeliveryEngine(doc_store, _headers, policy=FAST)
    await outbox.start()
    try:
        await outbox.enqueue("emsp", "PUT", scripted.url, {"id": "L1"})
        for _ in range(1000):  # a hang guard, not a timing bound
            if scripted.seen >= 2:
                break
            await asyncio.sleep(0.01)
        await outbox.stop()
        scripted.script = []  # the receiver recovers while the outbox is stopped
        seen = scripted.seen
        await outbox.start()
        assert await outbox.drain(30)
    finally:
        await outbox.stop()
    assert scripted.seen == seen + 1
    assert await doc_store.find(COLLECTION) == []


async def test_a_receiver_that_cannot_be_reached_is_kept_with_the_connection_error(
    doc_store: DocumentStore
) -> None:
    import socket

    # A loopback port nobody listens on: the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outbox = DeliveryEngine(doc_store, _headers, policy=DeliveryPolicy(
        timeout=30.0, base_backoff=0.01, max_backoff=0.02, max_attempts=1))
    await outbox.start()
    try:
        await outbox.enqueue("emsp", "PUT", f"http://127.0.0.1:{port}/locations/L1",
                             {"id": "L1"})
        assert await outbox.drain(5)
    finally:
        await outbox.stop()
    [row] = await doc_store.find(COLLECTION)
    # Why it failed, for the operator reading the dead letters; not "internal error".
    assert row["dead"] is True and row["attempts"] == 1
    assert str(row["last_error"]).startswith("ClientConnectorError: "), row["last_error"]
