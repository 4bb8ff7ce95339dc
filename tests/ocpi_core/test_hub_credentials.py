"""A hub's credentials in 2.3.0 (hub_party_id, the parties it reaches as roles) and in 2.2.1
(role HUB): the operator's grants decide in both versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.partners.grants import grants_from_options
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path),
                                  extensions=["ocpi_gateway.tokens.module:install"])
    yield running
    await running.stop()


def reached(party_id: str) -> dict[str, Any]:
    return {"role": "EMSP", "country_code": "DE", "party_id": party_id,
            "business_details": {"name": f"eMSP {party_id}"}}


async def hub_peer(version: str) -> EmspPeer:
    peer = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub",
                    versions=("2.2.1", "2.3.0"), ocpi_version=version,
                    extra_roles=[reached("AAA"), reached("BBB")] if version == "2.3.0" else [])
    await peer.start()
    return peer


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
async def test_a_granted_hub_registers_in_either_version(gateway: RunningGateway,
                                                         version: str) -> None:
    hub = await hub_peer(version)
    try:
        _, token_a = await gateway.partners.invite("hub", grants_from_options(
            hubs=["NL-HUB"], forwards_for=["DE-AAA,DE-BBB"]))
        _, body = await hub.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 1000, body
        [partner] = await gateway.partners.registered()
        assert partner.version == version
        # Internally the same in both versions: a platform holding the HUB role.
        assert [(r.role, r.country_code, r.party_id) for r in partner.roles] == [
            ("HUB", "NL", "HUB")]
        assert "hub_party_id" not in body["data"]  # we are no hub
        # It forwards for a granted party.
        status, reply, _ = await hub.call(
            "GET", f"{gateway.url}/ocpi/{version}/tokens/DE/AAA/NOPE",
            headers={"OCPI-from-country-code": "DE", "OCPI-from-party-id": "AAA"})
        assert status == 404 and reply["status_code"] == 2004
    finally:
        await hub.close()


async def test_a_2_3_0_hub_reaching_an_ungranted_party_is_refused(
    gateway: RunningGateway,
) -> None:
    hub = await hub_peer("2.3.0")
    try:
        _, token_a = await gateway.partners.invite("hub", grants_from_options(
            hubs=["NL-HUB"], forwards_for=["DE-AAA"]))
        _, body = await hub.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001 and "DE-BBB" in body["status_message"], body
        assert await gateway.partners.registered() == []
    finally:
        await hub.close()


async def test_a_2_3_0_hub_without_a_hub_grant_is_refused(gateway: RunningGateway) -> None:
    hub = await hub_peer("2.3.0")
    try:
        _, token_a = await gateway.partners.invite("hub?", grants_from_options(
            roles=["EMSP:DE-AAA", "EMSP:DE-BBB"]))
        _, body = await hub.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001 and "HUB:NL-HUB" in body["status_message"], body
    finally:
        await hub.close()


async def test_hub_is_no_role_in_2_3_0(gateway: RunningGateway) -> None:
    peer = EmspPeer(role="EMSP", versions=("2.3.0",), ocpi_version="2.3.0",
                    extra_roles=[{"role": "HUB", "country_code": "NL", "party_id": "HUB",
                                  "business_details": {"name": "Hub"}}])
    await peer.start()
    try:
        _, token_a = await gateway.partners.invite("x", grants_from_options(any_role=True))
        _, body = await peer.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001 and "roles.1.role" in body["status_message"], body
    finally:
        await peer.close()
