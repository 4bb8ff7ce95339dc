"""HubClientInfo, CPO side, with a real loopback hub forwarding for two eMSPs (DE-AAA,
DE-BBB), in both versions: the initial sync by GET on the hub's sender, pushes per reported
party (OCPI-to-* that party), none to a party reported SUSPENDED until it is back (then every
Location again), and a hub acting only for parties it reported and the operator granted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.partners.grants import grants_from_options
from tests.commands.support import eventually
from tests.locations.test_versions import LOCATION, afir_location
from tests.peers.emsp import EmspPeer, Received
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

STAMP = "2026-11-23T10:00:00Z"
EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.hubclientinfo.extension:install",
              "ocpi_gateway.locations.extension:install", "ocpi_gateway.tokens.module:install"]


def client(party_id: str, status: str = "CONNECTED") -> dict[str, Any]:
    return {"country_code": "DE", "party_id": party_id, "role": "EMSP", "status": status,
            "last_updated": STAMP}


def reached(party_id: str) -> dict[str, Any]:
    return {"role": "EMSP", "country_code": "DE", "party_id": party_id,
            "business_details": {"name": f"eMSP {party_id}"}}


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    locations = tmp_path / "locations.yaml"
    locations.write_text(yaml.safe_dump({"locations": [afir_location()]}), encoding="utf-8")
    running = await start_gateway(gateway_settings(tmp_path, locations_file=locations),
                                  extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.fixture(params=["2.2.1", "2.3.0"])
async def hub(request: pytest.FixtureRequest, gateway: RunningGateway,
              ) -> AsyncIterator[EmspPeer]:
    version = request.param
    peer = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub",
                    versions=("2.2.1", "2.3.0"), ocpi_version=version,
                    modules=("credentials", "locations", "tokens", "hubclientinfo"),
                    hub_clients=[client("AAA"), client("BBB")],
                    extra_roles=[reached("AAA"), reached("BBB")] if version == "2.3.0" else [])
    await peer.start()
    _, token_a = await gateway.partners.invite("hub", grants_from_options(
        hubs=["NL-HUB"], forwards_for=["DE-AAA,DE-BBB,DE-CCC"]))
    _, body = await peer.register_with(gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


def pushes(hub: EmspPeer, method: str) -> list[tuple[str, str]]:
    """(OCPI-to-party-id, path end) of each Locations push the hub got."""
    return [(r.headers.get("OCPI-to-party-id", ""), r.path.rsplit("/", 1)[-1])
            for r in hub.received if r.method == method and "/locations/" in r.path]


def report(gateway: RunningGateway, hub: EmspPeer, party_id: str, status: str,
           ) -> tuple[str, str, dict[str, Any]]:
    return ("PUT", f"{gateway.url}/ocpi/{hub.ocpi_version}/hubclientinfo/DE/{party_id}",
            client(party_id, status))


async def status_change(gateway: RunningGateway, status: ConnectorStatus) -> None:
    publisher = gateway.app[LOCATIONS].publisher
    await publisher.on_event(ConnectorStatusChanged(
        charge_point_id="CP-1", evse_id=None, connector_id=1, status=status))
    await publisher.settle()


async def test_initial_sync_and_pushes_per_reported_party(gateway: RunningGateway,
                                                          hub: EmspPeer) -> None:
    # The gateway GETs the hub's ClientInfo list, then PUTs every Location once per party.
    assert await eventually(lambda: sorted(pushes(hub, "PUT")) == [("AAA", LOCATION),
                                                                   ("BBB", LOCATION)], 10)
    assert any(r.path == f"/emsp/{hub.ocpi_version}/hubclientinfo" for r in hub.received)
    put: Received = next(r for r in hub.received if r.method == "PUT")
    assert put.headers["OCPI-to-country-code"] == "DE"
    assert put.headers["OCPI-from-party-id"] == "EXA"
    await status_change(gateway, ConnectorStatus.CHARGING)
    assert await eventually(lambda: sorted(pushes(hub, "PATCH")) == [("AAA", "E1"),
                                                                     ("BBB", "E1")], 10)


async def test_suspended_party_gets_nothing_until_back_then_everything(
    gateway: RunningGateway, hub: EmspPeer
) -> None:
    assert await eventually(lambda: len(pushes(hub, "PUT")) == 2, 10)
    method, url, body = report(gateway, hub, "BBB", "SUSPENDED")
    status, reply, _ = await hub.call(method, url, json=body)
    assert status == 200 and reply["status_code"] == 1000, reply
    status, reply, _ = await hub.call("GET", url)
    assert reply["data"]["status"] == "SUSPENDED"
    await status_change(gateway, ConnectorStatus.CHARGING)
    assert await eventually(lambda: pushes(hub, "PATCH") == [("AAA", "E1")], 10)
    method, url, body = report(gateway, hub, "BBB", "CONNECTED")
    status, reply, _ = await hub.call(method, url, json=body)
    assert reply["status_code"] == 1000, reply
    # Back: BBB is resynced with every Location, then gets the changes again.
    assert await eventually(lambda: pushes(hub, "PUT").count(("BBB", LOCATION)) == 2, 10)
    await status_change(gateway, ConnectorStatus.AVAILABLE)
    assert await eventually(lambda: sorted(pushes(hub, "PATCH")) == [
        ("AAA", "E1"), ("AAA", "E1"), ("BBB", "E1")], 10)


async def test_hub_acts_only_for_reported_and_granted_parties(
    gateway: RunningGateway, hub: EmspPeer
) -> None:
    assert await eventually(lambda: len(pushes(hub, "PUT")) == 2, 10)

    def token_call(party_id: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        token = {"country_code": "DE", "party_id": party_id, "uid": "T1", "type": "RFID",
                 "contract_id": "C1", "issuer": "x", "valid": True, "whitelist": "ALWAYS",
                 "last_updated": STAMP}
        return (f"{gateway.url}/ocpi/{hub.ocpi_version}/tokens/DE/{party_id}/T1", token,
                {"OCPI-from-country-code": "DE", "OCPI-from-party-id": party_id})

    url, token, headers = token_call("AAA")
    status, reply, _ = await hub.call("PUT", url, json=token, headers=headers)
    assert reply["status_code"] == 1000, reply
    # DE-CCC is granted by the operator but the hub never reported it.
    url, token, headers = token_call("CCC")
    status, reply, _ = await hub.call("PUT", url, json=token, headers=headers)
    assert status == 401 and "has not reported DE-CCC" in reply["status_message"], reply
    # DE-ZZZ: reported by the hub, but not granted by the operator.
    method, report_url, body = report(gateway, hub, "ZZZ", "CONNECTED")
    assert (await hub.call(method, report_url, json=body))[1]["status_code"] == 1000
    url, token, headers = token_call("ZZZ")
    status, reply, _ = await hub.call("PUT", url, json=token, headers=headers)
    assert status == 401 and "not granted" in reply["status_message"], reply


async def test_only_a_registered_hub_may_report(gateway: RunningGateway, hub: EmspPeer) -> None:
    assert await eventually(lambda: len(pushes(hub, "PUT")) == 2, 10)  # synced
    emsp = EmspPeer(party_id="EMX", versions=("2.2.1", "2.3.0"), ocpi_version=hub.ocpi_version)
    await emsp.start()
    try:
        _, token_a = await gateway.partners.invite("emsp", emsp.grants())
        # Token A: not registered yet.
        method, url, body = report(gateway, hub, "AAA", "SUSPENDED")
        status, reply, _ = await emsp.call(method, url, token_a, json=body)
        assert status == 401
        _, registered = await emsp.register_with(gateway.versions_url, token_a)
        assert registered["status_code"] == 1000
        status, reply, _ = await emsp.call(method, url, json=body)
        assert status == 403 and reply["status_code"] == 2000
        status, reply, _ = await hub.call("GET", url)
        assert reply.get("data", {}).get("status") == "CONNECTED", reply  # unchanged
    finally:
        await emsp.close()
