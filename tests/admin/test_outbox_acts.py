"""An operator retries and drops dead letters over the admin API: a retried one reaches the
partner's real receiver (on loopback) and leaves the outbox, a Locations push is sent as the
object it is now (GET then PUT) rather than its stale body; what is not dead, or is for a
partner that is gone, is refused 409; every act is in the audit log with the operator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES, Delivery
from ocpi_gateway.partners.models import Partner, PartnerState
from tests.admin.support import AdminClient
from tests.commands.support import eventually
from tests.conftest import free_port
from tests.peers.gateway import RunningGateway

MakeClient = Callable[..., AdminClient]


@dataclass
class Receiver:
    url: str
    seen: list[tuple[str, str, Any]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    got = Receiver(f"http://127.0.0.1:{port}")

    async def handle(request: web.Request) -> web.Response:
        body = await request.json() if request.body_exists else None
        got.seen.append((request.method, request.path, body))
        return web.json_response({"status_code": 1000, "timestamp": "2026-12-02T00:00:00Z"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield got
    await runner.cleanup()


async def _partner(gateway: RunningGateway, partner_id: str, state: PartnerState) -> None:
    await gateway.partners.save(Partner(
        id=partner_id, name=partner_id, state=state, token_to_send="token-c-of-" + partner_id,
        created_at="2026-12-01T00:00:00Z", updated_at="2026-12-01T00:00:00Z"))


async def _dead(gateway: RunningGateway, delivery_id: str, partner_id: str, url: str,
                **changes: Any) -> None:
    fields: dict[str, Any] = dict(
        id=delivery_id, partner_id=partner_id, method="PUT", url=url, body={"n": delivery_id},
        ordering_key=url, seq=1, attempts=7, dead=True, last_error="HTTP 400 OCPI 2001",
        owner="gw-gone")
    row = Delivery(**{**fields, **changes})
    await gateway.app[keys.STORE].put(COLLECTION, row.id, row.to_doc())


async def test_a_retried_dead_letter_is_delivered_and_leaves_the_outbox(
        gateway: RunningGateway, new_client: MakeClient, receiver: Receiver) -> None:
    store = gateway.app[keys.STORE]
    await _partner(gateway, "emsp-1", PartnerState.REGISTERED)
    await _dead(gateway, "dead-1", "emsp-1", receiver.url + "/cdrs/1")
    alice, victor = new_client(), new_client()
    assert (await alice.login("alice")).status == 200
    assert (await victor.login("victor")).status == 200

    dead = await victor.call("GET", "/admin/api/outbox?state=dead")
    assert [d["id"] for d in dead.body["items"]] == ["dead-1"]
    assert (await victor.call("POST", "/admin/api/outbox/dead-1/retry")).status == 403
    assert receiver.seen == []
    retried = await alice.call("POST", "/admin/api/outbox/dead-1/retry")
    assert retried.status == 200, retried
    assert retried.body["state"] == "pending" and retried.body["attempts"] == 0
    [retry] = retried.body["retries"]
    assert retry["by"] == "alice" and retry["attempts"] == 7
    assert retry["last_error"] == "HTTP 400 OCPI 2001"

    assert await eventually(lambda: _gone(store, "dead-1"))
    assert receiver.seen == [("PUT", "/cdrs/1", {"n": "dead-1"})]
    # Delivered once: a second retry finds nothing.
    assert (await alice.call("POST", "/admin/api/outbox/dead-1/retry")).status == 404
    [entry] = await store.find(AUDIT, {"action": "retry_dead_letter", "outcome": "ok"})
    assert entry["operator"] == "alice" and entry["target"] == {"delivery_id": "dead-1"}


async def test_a_locations_dead_letter_is_resent_as_the_object_now(
        gateway: RunningGateway, new_client: MakeClient, receiver: Receiver) -> None:
    await _partner(gateway, "emsp-2", PartnerState.REGISTERED)
    object_url = receiver.url + "/locations/NL/EXA/L1"

    async def current(delivery: Delivery) -> tuple[str, Any]:
        return object_url, {"id": "L1", "status": "now"}

    gateway.app[OUTBOX].register_resync("test-location", current)
    await _dead(gateway, "dead-2", "emsp-2", object_url + "/E1",
                resync={"kind": "test-location"})
    alice = new_client()
    assert (await alice.login("alice")).status == 200
    assert (await alice.call("POST", "/admin/api/outbox/dead-2/retry")).status == 200
    assert await eventually(lambda: _gone(gateway.app[keys.STORE], "dead-2"))
    assert [(m, p) for m, p, _ in receiver.seen] == [
        ("GET", "/locations/NL/EXA/L1"), ("PUT", "/locations/NL/EXA/L1")]
    assert receiver.seen[-1][2] == {"id": "L1", "status": "now"}  # not the stale body


async def test_what_cannot_be_retried_and_dropping(
        gateway: RunningGateway, new_client: MakeClient, receiver: Receiver) -> None:
    store = gateway.app[keys.STORE]
    await _partner(gateway, "emsp-3", PartnerState.REGISTERED)
    await _partner(gateway, "gone", PartnerState.REVOKED)
    await _dead(gateway, "to-revoked", "gone", receiver.url + "/x")
    await _dead(gateway, "to-drop", "emsp-3", receiver.url + "/y")
    waiting = Delivery(id="waiting", partner_id="emsp-3", method="PUT", url="http://a/b",
                       ordering_key="k", seq=2, attempts=1, next_attempt_at=9e12,
                       owner="gw-test")
    await store.put(COLLECTION, waiting.id, waiting.to_doc())
    alice = new_client()
    assert (await alice.login("alice")).status == 200

    revoked = await alice.call("POST", "/admin/api/outbox/to-revoked/retry")
    assert revoked.status == 409 and "revoked" in revoked.body["message"]
    assert (await store.get(COLLECTION, "to-revoked"))["dead"] is True  # type: ignore[index]
    live = await alice.call("POST", "/admin/api/outbox/waiting/retry")
    assert live.status == 409 and "retrying, not dead" in live.body["message"]
    assert (await alice.call("DELETE", "/admin/api/outbox/waiting")).status == 409
    assert await store.get(COLLECTION, "waiting") is not None
    assert (await alice.call("POST", "/admin/api/outbox/nope/retry")).status == 404

    dropped = await alice.call("DELETE", "/admin/api/outbox/to-drop")
    assert dropped.status == 200 and dropped.body["body"] == {"n": "to-drop"}
    assert await store.get(COLLECTION, "to-drop") is None
    assert (await alice.call("DELETE", "/admin/api/outbox/to-drop")).status == 404
    assert receiver.seen == []
    outcomes = [(e["action"], e["target"]["delivery_id"], e["outcome"].split(":")[0])
                for e in await store.find(AUDIT, {"operator": "alice"}, order_by="at")
                if e["action"] != "login"]
    assert outcomes == [("retry_dead_letter", "to-revoked", "refused"),
                        ("retry_dead_letter", "waiting", "refused"),
                        ("drop_dead_letter", "waiting", "refused"),
                        ("retry_dead_letter", "nope", "refused"),
                        ("drop_dead_letter", "to-drop", "ok"),
                        ("drop_dead_letter", "to-drop", "refused")]


async def _gone(store: Any, delivery_id: str) -> bool:
    return await store.get(COLLECTION, delivery_id) is None


async def test_the_outbox_by_when_queued(gateway: RunningGateway,
                                         new_client: MakeClient) -> None:
    store = gateway.app[keys.STORE]
    for n, hour in enumerate((8, 9, 10)):
        await _dead(gateway, f"q{n}", "emsp-1", f"http://127.0.0.1:9/{n}", seq=n,
                    queued_at=datetime(2026, 12, 1, hour, tzinfo=UTC).timestamp())
    old = Delivery(id="old", partner_id="emsp-1", method="PUT", url="http://127.0.0.1:9/o",
                   ordering_key="o", seq=-1, dead=True).to_doc()
    del old["queued_at"]  # as an earlier release stored it
    await store.put(COLLECTION, "old", old)
    victor = new_client()
    assert (await victor.login("victor")).status == 200

    ranged = await victor.call("GET", "/admin/api/outbox?state=dead&from=2026-12-01T09:00:00Z"
                               "&to=2026-12-01T10:00:00%2B00:00")
    assert ranged.status == 200, ranged
    assert [(d["id"], d["queued_at"]) for d in ranged.body["items"]] == [
        ("q1", "2026-12-01T09:00:00Z")]
    since = await victor.call("GET", "/admin/api/outbox?from=2026-12-01T09:00:00")
    assert [d["id"] for d in since.body["items"]] == ["q2", "q1"]
    every = await victor.call("GET", "/admin/api/outbox?sort=queued")
    assert [(d["id"], d["queued_at"]) for d in every.body["items"]][:2] == [
        ("old", None), ("q0", "2026-12-01T08:00:00Z")]
    bad = await victor.call("GET", "/admin/api/outbox?from=yesterday")
    assert bad.status == 400 and bad.body["error"] == "invalid"

    # Waiting ones, of an instance alive elsewhere (none here adopts them meanwhile).
    await store.put(INSTANCES, "gw-other", {"id": "gw-other", "seen_at": 4e9})
    for n, attempts in ((3, 0), (4, 2), (5, 1)):
        await _dead(gateway, f"q{n}", "emsp-1", f"http://127.0.0.1:9/{n}", seq=n, dead=False,
                    attempts=attempts, owner="gw-other", next_attempt_at=4e9,
                    queued_at=datetime(2026, 12, 1, 11, tzinfo=UTC).timestamp())
    counts = await victor.call("GET", "/admin/api/outbox/counts")
    assert counts.body == {"pending": 1, "retrying": 2, "dead": 4}
    pending = await victor.call("GET", "/admin/api/outbox?state=pending")
    retrying = await victor.call("GET", "/admin/api/outbox?state=retrying&from=2026-12-01T11:00Z")
    assert [d["id"] for d in pending.body["items"]] == ["q3"]
    assert [(d["id"], d["state"]) for d in retrying.body["items"]] == [
        ("q5", "retrying"), ("q4", "retrying")]
