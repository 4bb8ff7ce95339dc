"""The Locations module inside the real gateway app, with the loopback eMSP peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ocpi_gateway import keys
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.extension import AVAILABILITY, LOCATIONS
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.locations.extension:install",
              "ocpi_gateway.admin.extension:install"]  # POST /admin/reload


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(tmp_path, locations_file=EXAMPLE, admin_token="adm1n")
    running = await start_gateway(settings, extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.fixture
async def emsp(gateway: RunningGateway) -> AsyncIterator[EmspPeer]:
    peer = EmspPeer()
    await peer.start()
    _partner, token_a = await gateway.partners.invite("eMSP", peer.grants())
    status, body = await peer.register_with(gateway.versions_url, token_a)
    assert status == 200, body
    yield peer
    await peer.close()


async def test_versions_lists_locations_sender(gateway: RunningGateway, emsp: EmspPeer) -> None:
    status, body, _ = await emsp.call("GET", f"{gateway.url}/ocpi/2.2.1")
    assert status == 200
    assert {"identifier": "locations", "role": "SENDER",
            "url": f"{gateway.url}/ocpi/2.2.1/locations"} in body["data"]["endpoints"]


async def test_authenticated_list_and_object(gateway: RunningGateway, emsp: EmspPeer) -> None:
    status, body, headers = await emsp.call("GET", f"{gateway.url}/ocpi/2.2.1/locations?limit=1")
    assert status == 200 and body["status_code"] == 1000
    assert len(body["data"]) == 1 and headers["X-Total-Count"] == "2"
    assert headers["Link"].startswith(f"<{gateway.url}/ocpi/2.2.1/locations?offset=1&limit=1>")
    status, body, _ = await emsp.call("GET", f"{gateway.url}/ocpi/2.2.1/locations/NOPE")
    assert status == 404 and body["status_code"] == 2003
    status, _, _ = await emsp.call("GET", f"{gateway.url}/ocpi/2.2.1/locations", token="wrong")
    assert status == 401


async def test_status_push_resyncs_a_partner_that_missed_the_put(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    # The eMSP registered after startup, so it never got the initial PUT: its receiver
    # refuses the PATCH (unknown object) and the outbox answers with GET-then-PUT.
    await gateway.app[keys.EVENT_BUS].publish(ConnectorStatusChanged(
        charge_point_id="CP-UTR-01", evse_id=2, connector_id=1,
        status=ConnectorStatus.CHARGING))
    await gateway.app[LOCATIONS].publisher.settle()
    assert await gateway.app[OUTBOX].drain(5)
    key = "NL/EXA/NL-UTR-JAARBEURS"
    assert key in emsp.locations
    evse = next(e for e in emsp.locations[key]["evses"] if e["uid"] == "UTR-JB-02")
    assert evse["status"] == "CHARGING"
    methods = [r.method for r in emsp.received if "/locations/" in r.path]
    assert methods == ["PATCH", "GET", "PUT"]
    # the availability the policy reads agrees
    seen = await gateway.app[AVAILABILITY].get("NL-UTR-JAARBEURS", "UTR-JB-02")
    assert seen is not None and seen.status.value == "CHARGING"


async def test_admin_reload_on_the_app(gateway: RunningGateway, emsp: EmspPeer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gateway.url}/admin/reload",
                                headers={"Authorization": "Bearer adm1n"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["data"] == {"changed_locations": []}
        async with session.post(f"{gateway.url}/admin/reload",
                                headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401


async def test_offline_grace_comes_from_the_settings(tmp_path: Path) -> None:
    import asyncio

    from ocpi_gateway.domain.events import ChargerDisconnected

    settings = gateway_settings(tmp_path, locations_file=EXAMPLE,
                                charger_offline_grace_seconds=0.05)
    running = await start_gateway(settings, extensions=EXTENSIONS)
    try:
        bus, publisher = running.app[keys.EVENT_BUS], running.app[LOCATIONS].publisher
        await bus.publish(ConnectorStatusChanged(charge_point_id="CP-UTR-01", evse_id=3,
                                                 connector_id=1,
                                                 status=ConnectorStatus.AVAILABLE))
        await bus.publish(ChargerDisconnected(charge_point_id="CP-UTR-01"))
        await asyncio.sleep(0.12)
        await publisher.settle()
        assert publisher.evse("NL-UTR-JAARBEURS", "UTR-JB-03").status == "UNKNOWN"  # type: ignore[union-attr]
        seen = await running.app[AVAILABILITY].get("NL-UTR-JAARBEURS", "UTR-JB-03")
        assert seen is not None and seen.status.value == "UNKNOWN"
    finally:
        await running.stop()
