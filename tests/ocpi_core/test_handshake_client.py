"""We register with an eMSP that gave us token A (we are the credentials client)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

from ocpi_gateway import keys
from ocpi_gateway.modules import SUPPORTED_VERSIONS
from ocpi_gateway.partners.grants import grants_from_options
from ocpi_gateway.partners.handshake import HandshakeError
from ocpi_gateway.partners.register import register_with_partner
from ocpi_gateway.transport.status_codes import OcpiStatus
from tests.conftest import free_port
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)


async def _register(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await register_with_partner(gateway.partners, gateway.app[keys.OCPI_CLIENT],
                                gateway.settings, SUPPORTED_VERSIONS, emsp.versions_url,
                                emsp.token_a, name="Peer")


async def test_register_with_emsp(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await _register(gateway, emsp)
    [partner] = await gateway.partners.registered()
    assert partner.version == "2.2.1" and partner.has_party("DE", "EMS")
    # The eMSP got our credentials (token B, every CPO role) and issued its token C to us.
    assert emsp.gateway_credentials is not None
    assert emsp.gateway_credentials["url"] == gateway.versions_url
    assert emsp.gateway_credentials["roles"][0]["party_id"] == "EXA"
    assert partner.token_to_send in emsp.valid_tokens
    assert emsp.token_a not in emsp.valid_tokens
    # The eMSP calls us with the token B we gave it.
    status, body, _ = await emsp.call("GET", gateway.versions_url)
    assert status == 200
    status, body, _ = await emsp.call("GET", gateway.url + "/ocpi/2.2.1/credentials")
    assert status == 200 and body["data"]["token"] == emsp.token_for_gateway


async def test_register_with_plain_token_peer(gateway: RunningGateway) -> None:
    peer = EmspPeer(plain_tokens_only=True)
    await peer.start()
    try:
        await _register(gateway, peer)
        [partner] = await gateway.partners.registered()
        assert partner.send_base64 is False
    finally:
        await peer.close()


async def test_unreachable_partner_stores_nothing(gateway: RunningGateway) -> None:
    with pytest.raises(HandshakeError) as caught:
        await register_with_partner(
            gateway.partners, gateway.app[keys.OCPI_CLIENT], gateway.settings,
            SUPPORTED_VERSIONS, f"http://127.0.0.1:{free_port()}/versions", "token-a")
    assert caught.value.status_code is OcpiStatus.UNABLE_TO_USE_CLIENT_API
    assert await gateway.partners.list() == []


async def test_wrong_token_a_stores_nothing(gateway: RunningGateway, emsp: EmspPeer) -> None:
    emsp.token_a = "changed"
    with pytest.raises(HandshakeError):
        await register_with_partner(
            gateway.partners, gateway.app[keys.OCPI_CLIENT], gateway.settings,
            SUPPORTED_VERSIONS, emsp.versions_url, "wrong")
    assert await gateway.partners.list() == []


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_invite_register_list(tmp_path: Path, emsp: EmspPeer) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "public_url": "http://127.0.0.1:9999",
        "cpo_roles": [{"country_code": "NL", "party_id": "EXA",
                       "business_details": {"name": "Example CPO"}}],
        "store_url": "sqlite:///gateway.db",
    }))
    code, out, err = await _cli("--config", str(config), "partners", "register",
                                # '=': a token may start with "-" (this peer's are random)
                                "--versions-url", emsp.versions_url, f"--token={emsp.token_a}",
                                "--name", "Peer")
    assert code == 0, err
    code, out, err = await _cli("--config", str(config), "partners", "invite", "--name", "New",
                                "--role", "EMSP:NL-NEW")
    assert code == 0, err
    assert "http://127.0.0.1:9999/ocpi/versions" in out
    token_line = next(line for line in out.splitlines() if line.startswith("token A:"))
    assert len(token_line.split()[-1]) >= 22
    code, out, err = await _cli("--config", str(config), "partners", "list")
    assert code == 0, err
    assert "Peer" in out and "registered" in out and "EMSP DE-EMS" in out
    assert "New" in out and "invited" in out
    assert f"{emsp.base_url}/emsp/2.2.1/locations" in out
    code, _, err = await _cli("--config", str(tmp_path / "missing.yaml"), "partners", "list")
    assert code == 2 and "missing.yaml" in err


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "public_url": "http://127.0.0.1:9999",
        "cpo_roles": [{"country_code": "NL", "party_id": "EXA",
                       "business_details": {"name": "Example CPO"}}],
        "store_url": f"sqlite:///{tmp_path / 'gateway.db'}",
    }))
    return config


async def test_cli_invite_requires_saying_what_the_partner_may_be(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    code, _, err = await _cli("--config", config, "partners", "invite", "--name", "Who")
    assert code == 2 and "--role" in err
    code, _, err = await _cli("--config", config, "partners", "invite", "--name", "Bad",
                              "--role", "EMSP:DEABC")
    assert code == 2 and "COUNTRY-PARTY" in err
    code, _, err = await _cli("--config", config, "partners", "invite", "--name", "Fwd",
                              "--forwards-for", "DE-ABC")
    assert code == 2
    code, out, err = await _cli("--config", config, "partners", "invite", "--name", "Hub",
                                "--hub", "DE-HUB", "--forwards-for", "DE-ABC,nl-xyz")
    assert code == 0, err
    assert "granted:      HUB:DE-HUB; forwards for DE-ABC,NL-XYZ" in out
    partner_id = out.split("(")[1].split(")")[0]
    code, out, err = await _cli("--config", config, "partners", "grant", partner_id,
                                "--forwards-for", "FR-ONE", "--helpdesk")
    assert code == 0, err
    assert "forwards for DE-ABC,NL-XYZ,FR-ONE; helpdesk" in out
    code, out, _ = await _cli("--config", config, "partners", "list")
    assert "granted=[HUB:DE-HUB; forwards for DE-ABC,NL-XYZ,FR-ONE; helpdesk]" in out


async def test_register_restricted_to_roles_they_do_not_declare_fails_and_undoes(
    tmp_path: Path, emsp: EmspPeer
) -> None:
    config = str(_config(tmp_path))
    code, _, err = await _cli("--config", config, "partners", "register",
                              "--versions-url", emsp.versions_url, f"--token={emsp.token_a}",
                              "--role", "EMSP:DE-OTH")
    assert code == 1 and "2001" in err and "EMSP:DE-EMS" in err, err
    # They had registered us: the refusal unregistered us at their side, and we keep nothing.
    assert [r.method for r in emsp.received] == ["POST", "DELETE"]
    assert emsp.token_for_gateway is None
    code, out, _ = await _cli("--config", config, "partners", "list")
    assert code == 0 and out.strip() == ""


async def test_register_keeps_only_the_granted_roles(gateway: RunningGateway) -> None:
    peer = EmspPeer(extra_roles=[{"role": "EMSP", "country_code": "DE", "party_id": "EM2",
                                  "business_details": {"name": "second"}}])
    await peer.start()
    try:
        await register_with_partner(gateway.partners, gateway.app[keys.OCPI_CLIENT],
                                    gateway.settings, SUPPORTED_VERSIONS, peer.versions_url,
                                    peer.token_a, grants=grants_from_options(
                                        roles=["EMSP:DE-EM2"]))
        [partner] = await gateway.partners.registered()
        assert [(r.country_code, r.party_id) for r in partner.roles] == [("DE", "EM2")]
    finally:
        await peer.close()
