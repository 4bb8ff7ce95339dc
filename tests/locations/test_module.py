"""The module as the app wires it: EventBus subscription, admin reload, SIGHUP reload,
receivers taken from the partner registry."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged, EventBus
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.module import LocationsModule, partner_receivers
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.locations.conftest import EXAMPLE
from tests.locations.conftest import Receiver as Peer


@dataclass
class FakeEndpointOwner:
    """Shape of partners.models.Partner that partner_receivers reads."""

    id: str
    urls: dict[tuple[str, str], str] = field(default_factory=dict)

    def endpoint(self, identifier: str, role: str | None = None) -> str | None:
        return self.urls.get((identifier, role or ""))


async def test_partner_receivers_keeps_locations_receivers_only() -> None:
    calls = 0

    async def registered() -> list[FakeEndpointOwner]:
        nonlocal calls
        calls += 1
        return [FakeEndpointOwner("a", {("locations", "RECEIVER"): "http://a/locations"}),
                FakeEndpointOwner("b", {("locations", "SENDER"): "http://b/locations"}),
                FakeEndpointOwner("c", {("tokens", "RECEIVER"): "http://c/tokens"})]

    receivers = partner_receivers(registered, ttl=60)
    found = await receivers()
    assert [(r.partner_id, r.url) for r in found] == [("a", "http://a/locations")]
    await receivers()
    assert calls == 1  # cached


async def build(tmp_path: Path, receiver: Peer, doc_store: DocumentStore
                ) -> tuple[LocationsModule, DeliveryEngine, EventBus, Path, dict[str, Any]]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    path = tmp_path / "locations.yaml"
    path.write_text(yaml.safe_dump(raw))

    async def headers(_p: str) -> dict[str, str]:
        return {"Authorization": "Token eA=="}

    outbox = DeliveryEngine(doc_store, headers, policy=DeliveryPolicy(base_backoff=0.01))
    bus = EventBus()

    async def registered() -> list[FakeEndpointOwner]:
        return [FakeEndpointOwner("emsp", {("locations", "RECEIVER"): receiver.url})]

    module = LocationsModule(path, MemoryAvailability(), store=doc_store, outbox=outbox,
                             receivers=partner_receivers(registered), bus=bus)
    await outbox.start()
    await module.start()
    return module, outbox, bus, path, raw


async def test_events_from_the_bus_are_pushed(
    tmp_path: Path, receiver: Peer, doc_store: DocumentStore
) -> None:
    module, outbox, bus, _, _ = await build(tmp_path, receiver, doc_store)
    await bus.publish(ConnectorStatusChanged(charge_point_id="CP-UTR-01", evse_id=4,
                                             connector_id=1, status=ConnectorStatus.OCCUPIED))
    await module.publisher.settle()
    assert await outbox.drain(5)
    [patch] = receiver.of("PATCH")
    assert patch.path.endswith("/NL-UTR-JAARBEURS/UTR-JB-04")
    assert patch.body["status"] == "CHARGING"
    await module.stop()
    await outbox.stop()


async def test_admin_reload(
    tmp_path: Path, receiver: Peer, doc_store: DocumentStore, aiohttp_client: Any
) -> None:
    module, outbox, _, path, raw = await build(tmp_path, receiver, doc_store)
    app = web.Application()
    # Who may call it is tested with the admin API (tests/admin/test_access.py).
    app.add_routes([web.post("/admin/reload", module.admin_reload)])
    client: TestClient[Any, Any] = await aiohttp_client(app)
    raw["locations"][0]["evses"][0]["connectors"][0]["max_amperage"] = -5
    path.write_text(yaml.safe_dump(raw))
    bad = await client.post("/admin/reload")
    body = await bad.json()
    assert bad.status == 400 and body["status_code"] == 2001
    assert any("AMS-ZUIDAS-01" in line and "max_amperage" in line
               for line in body["data"]["errors"])
    raw["locations"][0]["evses"][0]["connectors"][0]["max_amperage"] = 16
    path.write_text(yaml.safe_dump(raw))
    assert await outbox.drain(5)
    receiver.requests.clear()
    good = await client.post("/admin/reload")
    assert (await good.json())["data"] == {"changed_locations": ["NL-AMS-ZUIDAS"]}
    assert await outbox.drain(5)
    [put] = receiver.of("PUT")
    assert put.body["evses"][0]["connectors"][0]["max_amperage"] == 16
    assert module.catalog.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-01").connectors[0].max_amperage \
        == 16  # type: ignore[union-attr]
    await module.stop()
    await outbox.stop()


async def test_sighup_reloads(tmp_path: Path, receiver: Peer, doc_store: DocumentStore) -> None:
    module, outbox, _, path, raw = await build(tmp_path, receiver, doc_store)
    loop = asyncio.get_running_loop()
    module.install_sighup(loop)
    try:
        raw["locations"][1]["name"] = "Jaarbeurs Noord"
        path.write_text(yaml.safe_dump(raw))
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(200):
            doc = module.publisher.published_doc("NL-UTR-JAARBEURS")
            if doc and doc["name"] == "Jaarbeurs Noord":
                break
            await asyncio.sleep(0.01)
        assert module.publisher.published_doc("NL-UTR-JAARBEURS")["name"] == "Jaarbeurs Noord"  # type: ignore[index]
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    await module.stop()
    await outbox.stop()


async def test_partner_receivers_name_the_party_of_a_single_role_partner() -> None:
    from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole

    def partner(pid: str, *parties: tuple[str, str]) -> Partner:
        return Partner(id=pid, name=pid, state="registered", created_at="", updated_at="",
                       roles=[PartnerRole(role="EMSP", country_code=c, party_id=p)
                              for c, p in parties],
                       endpoints=[PartnerEndpoint(identifier="locations", role="RECEIVER",
                                                  url=f"http://{pid}/locations")])

    async def registered() -> list[Partner]:
        return [partner("one", ("DE", "EMS")), partner("two", ("DE", "EMS"), ("DE", "EMT"))]

    found = await partner_receivers(registered)()
    assert [(r.partner_id, r.to_party) for r in found] == [("one", ("DE", "EMS")),
                                                           ("two", None)]


async def test_reload_parses_off_the_event_loop_which_keeps_serving(
    tmp_path: Path, receiver: Peer, doc_store: DocumentStore, monkeypatch: Any
) -> None:
    import threading

    from ocpi_gateway.locations import reread

    module, outbox, _, path, raw = await build(tmp_path, receiver, doc_store)
    raw["locations"][1]["name"] = "Jaarbeurs Noord"
    path.write_text(yaml.safe_dump(raw))
    loop_thread = threading.get_ident()
    parsed_in: list[int] = []
    loop_ran = threading.Event()
    real_changes = reread.changes

    def changes_waiting_for_the_loop(source: Path, known: Any) -> Any:
        parsed_in.append(threading.get_ident())
        # On the loop this would wait for itself: the loop must run while the file parses.
        if not loop_ran.wait(timeout=30):
            raise AssertionError("the event loop did not run while the file was parsed")
        return real_changes(source, known)

    monkeypatch.setattr(reread, "changes", changes_waiting_for_the_loop)
    reload = asyncio.ensure_future(module.reload())
    for _ in range(3000):
        if parsed_in:
            break
        await asyncio.sleep(0.001)
    loop_ran.set()  # only reachable while the parse is elsewhere
    assert await reload == ["NL-UTR-JAARBEURS"]
    assert parsed_in and parsed_in[0] != loop_thread
    await module.stop()
    await outbox.stop()


async def test_reload_hands_the_loop_back_between_locations(
    tmp_path: Path, receiver: Peer, doc_store: DocumentStore, monkeypatch: Any
) -> None:
    from ocpi_gateway.locations import config_apply

    module, outbox, _, path, raw = await build(tmp_path, receiver, doc_store)
    for location in raw["locations"]:
        location["name"] += " (renamed)"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(config_apply, "YIELD_EVERY", 0.0)
    renamed_per_tick: list[int] = []

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0)
            renamed_per_tick.append(sum(
                1 for location in raw["locations"]
                if module.publisher.published_doc(location["id"])["name"]  # type: ignore[index]
                .endswith("(renamed)")))

    task = asyncio.ensure_future(ticker())
    changed = await module.reload()
    task.cancel()
    assert len(changed) == len(raw["locations"]) >= 2
    # Between two locations the loop ran other tasks, which saw a partly applied reload.
    assert [n for n in renamed_per_tick if 0 < n < len(changed)]
    await module.stop()
    await outbox.stop()
