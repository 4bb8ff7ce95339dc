"""Offboarding: ``partners revoke`` and ``partners delete`` (the real CLI, a separate process)
against two running gateway instances sharing one store."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.partners.models import PartnerState
from tests.commands.support import eventually
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)

EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.tokens.module:install"]


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """Two instances of one gateway on one SQLite store (as two processes would share it)."""
    a = await start_gateway(gateway_settings(tmp_path, instance_id="gw-a"), extensions=EXTENSIONS)
    b = await start_gateway(gateway_settings(tmp_path, instance_id="gw-b"), extensions=EXTENSIONS)
    yield a, b
    await b.stop()
    await a.stop()


@pytest.fixture
async def emsp(instances: tuple[RunningGateway, RunningGateway]) -> AsyncIterator[EmspPeer]:
    a, _ = instances
    peer = EmspPeer()
    await peer.start()
    _, token_a = await a.partners.invite("leaving eMSP", peer.grants())
    _, body = await peer.register_with(a.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump({
        "public_url": "http://127.0.0.1:9999",
        "cpo_roles": [{"country_code": "NL", "party_id": "EXA",
                       "business_details": {"name": "Example CPO"}}],
        "store_url": f"sqlite:///{tmp_path / 'gateway.db'}"}))
    return path


async def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", "--config", str(_config(tmp_path)), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _tokens_url(gateway: RunningGateway) -> str:
    return f"{gateway.url}/ocpi/2.2.1/tokens/DE/EMS/04AABB"


TOKEN = {"country_code": "DE", "party_id": "EMS", "uid": "04AABB", "type": "RFID",
         "contract_id": "DE-EMS-C12345678-X", "issuer": "Test eMSP", "valid": True,
         "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z"}


async def test_revoke_kills_the_tokens_at_once_on_every_instance(
    tmp_path: Path, instances: tuple[RunningGateway, RunningGateway], emsp: EmspPeer
) -> None:
    a, b = instances
    # Both instances have the token in their authentication cache.
    for gateway in (a, b):
        _, body, _ = await emsp.call("PUT", _tokens_url(gateway), json=TOKEN)
        assert body["status_code"] == 1000, body
    [partner] = await a.partners.registered()
    code, out, err = await _cli(tmp_path, "partners", "revoke", partner.id)
    assert code == 0, err
    assert "revoked leaving eMSP" in out
    # The very next request, on either instance, is refused: no TTL to wait for.
    for gateway in (b, a):
        status, body, _ = await emsp.call("GET", _tokens_url(gateway))
        assert (status, body["status_code"]) == (401, 2000), body
        status, _, _ = await emsp.call("GET", gateway.versions_url)
        assert status == 401
    revoked = await a.partners.get(partner.id)
    assert revoked is not None and revoked.state is PartnerState.REVOKED
    # A revoked partner cannot come back with a handshake either (its tokens are gone).
    status, _, _ = await emsp.call("PUT", emsp.credentials_url, json=emsp.credentials("b2"))
    assert status == 401


async def test_revoke_stops_pushes_and_dead_letters_what_was_pending(
    tmp_path: Path, instances: tuple[RunningGateway, RunningGateway], emsp: EmspPeer
) -> None:
    a, _ = instances
    [partner] = await a.partners.registered()
    outbox = a.app[OUTBOX]
    # Retries at most half a second apart: the next attempt after the revoke comes soon however
    # long the CLI took (with the default backoff, up to as long again as everything before).
    outbox.policy = dataclasses.replace(outbox.policy, max_backoff=0.5)
    emsp.refuse_first = 10_000  # a partner gone dark: every push is retried
    url = f"{emsp.base_url}/emsp/2.2.1/locations/NL/EXA/LOC1"
    for n in range(3):
        await outbox.enqueue(partner.id, "PUT", url + str(n), {"n": n})
    assert await eventually(lambda: len(emsp.received) >= 3)
    code, out, err = await _cli(tmp_path, "partners", "revoke", partner.id)
    assert code == 0, err
    assert "3 pending deliveries dead-lettered" in out
    seen = len(emsp.received)
    # The instance still holding them in memory gives them up at their next attempt...
    assert await eventually(lambda: outbox.pending() == 0, within=60)
    rows = await a.partners.store.find(COLLECTION, {"partner_id": partner.id})
    assert len(rows) == 3 and all(row["dead"] for row in rows)
    # ...without sending them, and new pushes are not sent either.
    await outbox.enqueue(partner.id, "PUT", url + "new", {"n": 9})
    assert await eventually(lambda: outbox.pending() == 0, within=60)
    assert len(emsp.received) == seen


async def test_delete_unregisters_at_their_side_and_forgets_them(
    tmp_path: Path, instances: tuple[RunningGateway, RunningGateway], emsp: EmspPeer
) -> None:
    a, b = instances
    [partner] = await a.partners.registered()
    token_we_held = partner.token_to_send
    assert token_we_held in emsp.valid_tokens
    code, out, err = await _cli(tmp_path, "partners", "delete", partner.id)
    assert code == 0, err
    assert "DELETE on their credentials endpoint: HTTP 200, status_code 1000" in out
    # They saw our DELETE, with the token they gave us, and dropped it.
    assert [r.method for r in emsp.received if r.path.endswith("/credentials")] == ["DELETE"]
    assert token_we_held not in emsp.valid_tokens
    assert await a.partners.get(partner.id) is None
    status, _, _ = await emsp.call("GET", b.versions_url)
    assert status == 401
    code, _, err = await _cli(tmp_path, "partners", "delete", partner.id)
    assert code == 1 and "no partner" in err


async def test_delete_of_an_unreachable_partner_still_forgets_it(
    tmp_path: Path, instances: tuple[RunningGateway, RunningGateway], emsp: EmspPeer
) -> None:
    a, _ = instances
    [partner] = await a.partners.registered()
    await emsp.close()
    code, out, err = await _cli(tmp_path, "partners", "delete", partner.id)
    assert code == 0, err
    assert "unreachable" in out
    assert await a.partners.list() == []
