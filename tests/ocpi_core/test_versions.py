"""2.2.1 and 2.3.0 side by side: Versions lists both, a partner registers on either, the
highest mutual version wins, and a credentials PUT on the other version switches the partner
(endpoints re-fetched, Locations re-sent in the new form)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from ocpi_gateway import keys
from ocpi_gateway.modules import SUPPORTED_VERSIONS
from ocpi_gateway.partners.register import register_with_partner
from tests.commands.support import eventually
from tests.locations.test_versions import afir_location
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

BOTH = ("2.2.1", "2.3.0")


@pytest.fixture
async def located_gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    locations = tmp_path / "locations.yaml"
    locations.write_text(yaml.safe_dump({"locations": [afir_location()]}), encoding="utf-8")
    running = await start_gateway(
        gateway_settings(tmp_path, locations_file=locations),
        extensions=["ocpi_gateway.deliveries.app:install",
                    "ocpi_gateway.locations.extension:install"])
    yield running
    await running.stop()


async def peer(*versions: str, speaks: str) -> EmspPeer:
    emsp = EmspPeer(versions=versions, ocpi_version=speaks)
    await emsp.start()
    return emsp


async def test_versions_lists_both_with_their_endpoints(located_gateway: RunningGateway) -> None:
    emsp = await peer(*BOTH, speaks="2.3.0")
    try:
        _, token_a = await located_gateway.partners.invite("x", emsp.grants())
        status, body, _ = await emsp.call("GET", located_gateway.versions_url, token_a)
        assert status == 200
        assert [v["version"] for v in body["data"]] == ["2.2.1", "2.3.0"]
        for version in BOTH:
            _, details, _ = await emsp.call("GET", f"{located_gateway.url}/ocpi/{version}",
                                            token_a)
            assert {(e["identifier"], e["url"]) for e in details["data"]["endpoints"]} == {
                ("credentials", f"{located_gateway.url}/ocpi/{version}/credentials"),
                ("locations", f"{located_gateway.url}/ocpi/{version}/locations")}
    finally:
        await emsp.close()


@pytest.mark.parametrize("version", BOTH)
async def test_emsp_registers_on_either_version(located_gateway: RunningGateway,
                                                version: str) -> None:
    emsp = await peer(*BOTH, speaks=version)
    try:
        _, token_a = await located_gateway.partners.invite("eMSP", emsp.grants())
        status, body = await emsp.register_with(located_gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 1000, body
        [partner] = await located_gateway.partners.registered()
        assert partner.version == version
        assert partner.endpoint("locations", "RECEIVER") == \
            f"{emsp.base_url}/emsp/{version}/locations"
        # Its Locations arrive in its version (the peer validates them in that version).
        assert await eventually(lambda: "NL/EXA/LOC-AFIR" in emsp.locations, within=8)
        put = emsp.locations["NL/EXA/LOC-AFIR"]
        assert ("help_phone" in put) is (version == "2.3.0")
    finally:
        await emsp.close()


async def _register(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await register_with_partner(gateway.partners, gateway.app[keys.OCPI_CLIENT],
                                gateway.settings, SUPPORTED_VERSIONS, emsp.versions_url,
                                emsp.token_a, name="Peer", grants=emsp.grants())


@pytest.mark.parametrize(("theirs", "chosen"), [(("2.1.1", "2.2.1"), "2.2.1"),
                                                (BOTH, "2.3.0"), (("2.3.0",), "2.3.0")])
async def test_gateway_registers_on_the_highest_mutual_version(
    located_gateway: RunningGateway, theirs: tuple[str, ...], chosen: str
) -> None:
    emsp = await peer(*theirs, speaks=chosen)
    try:
        await _register(located_gateway, emsp)
        [partner] = await located_gateway.partners.registered()
        assert partner.version == chosen
        assert emsp.gateway_credentials is not None
        assert [r.path for r in emsp.received if r.method == "POST"] == [
            f"/emsp/{chosen}/credentials"]
    finally:
        await emsp.close()


async def test_credentials_put_switches_the_version(located_gateway: RunningGateway) -> None:
    emsp = await peer(*BOTH, speaks="2.2.1")
    try:
        _, token_a = await located_gateway.partners.invite("eMSP", emsp.grants())
        status, _ = await emsp.register_with(located_gateway.versions_url, token_a)
        assert status == 200
        assert await eventually(lambda: "NL/EXA/LOC-AFIR" in emsp.locations, within=8)
        assert "help_phone" not in emsp.locations["NL/EXA/LOC-AFIR"]
        emsp.locations.clear()
        emsp.ocpi_version = "2.3.0"
        new_token = "token-b-for-2.3.0"
        emsp.valid_tokens.add(new_token)
        status, body, _ = await emsp.call("PUT", f"{located_gateway.url}/ocpi/2.3.0/credentials",
                                          json=emsp.credentials(new_token))
        assert status == 200 and body["status_code"] == 1000, body
        emsp.token_for_gateway = body["data"]["token"]
        [partner] = await located_gateway.partners.registered()
        assert partner.version == "2.3.0" and partner.token_to_send == new_token
        assert partner.endpoint("locations", "RECEIVER") == f"{emsp.base_url}/emsp/2.3.0/locations"
        # From now on it is sent 2.3.0: every Location again, in the 2.3.0 form.
        assert await eventually(lambda: "NL/EXA/LOC-AFIR" in emsp.locations, within=8)
        assert emsp.locations["NL/EXA/LOC-AFIR"]["help_phone"] == "+31301234567"
        assert [r.path for r in emsp.received if r.method == "PUT"][-1] == \
            "/emsp/2.3.0/locations/NL/EXA/LOC-AFIR"
    finally:
        await emsp.close()


async def test_open_enums_of_2_3_0_in_a_partners_versions_and_modules(
    located_gateway: RunningGateway,
) -> None:
    """VersionNumber and ModuleID are OpenEnums in 2.3.0: a version we do not know is passed
    over (the highest mutual one is chosen), a module we do not know is kept as listed."""
    emsp = EmspPeer(versions=("2.2.1", "2.3.0", "3.0"), ocpi_version="2.3.0",
                    modules=("credentials", "locations", "commands", "tokens", "futuremodule"))
    await emsp.start()
    try:
        await _register(located_gateway, emsp)
        [partner] = await located_gateway.partners.registered()
        assert partner.version == "2.3.0"
        assert partner.endpoint("futuremodule") == f"{emsp.base_url}/emsp/2.3.0/futuremodule"
    finally:
        await emsp.close()
