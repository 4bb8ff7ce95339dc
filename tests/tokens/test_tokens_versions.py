"""The Tokens receiver in 2.2.1 and 2.3.0: the same, apart from TokenType (2.3.0: EMAID, and
an OpenEnum whose unknown values are kept). Unknown JSON fields are refused in neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway
from tests.tokens.test_tokens_receiver import token


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path),
                                  extensions=["ocpi_gateway.tokens.module:install"])
    yield running
    await running.stop()


@pytest.fixture(params=["2.2.1", "2.3.0"])
async def emsp(request: pytest.FixtureRequest, gateway: RunningGateway,
               ) -> AsyncIterator[EmspPeer]:
    peer = EmspPeer(versions=("2.2.1", "2.3.0"), ocpi_version=request.param)
    await peer.start()
    _, token_a = await gateway.partners.invite("emsp", peer.grants())
    status, body = await peer.register_with(gateway.versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    yield peer
    await peer.close()


def url(gateway: RunningGateway, emsp: EmspPeer, uid: str, token_type: str | None = None) -> str:
    query = f"?type={token_type}" if token_type else ""
    return f"{gateway.url}/ocpi/{emsp.ocpi_version}/tokens/DE/EMS/{uid}{query}"


async def put_get(gateway: RunningGateway, emsp: EmspPeer, body: dict[str, Any],
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    _, put, _ = await emsp.call("PUT", url(gateway, emsp, body["uid"], body["type"]), json=body)
    _, got, _ = await emsp.call("GET", url(gateway, emsp, body["uid"], body["type"]))
    return put, got


async def test_unknown_fields_are_accepted_in_both(gateway: RunningGateway,
                                                   emsp: EmspPeer) -> None:
    put, got = await put_get(gateway, emsp, token(x_vendor_extension={"tier": "gold"}))
    assert put["status_code"] == 1000, put
    assert got["data"]["uid"] == "012345678" and "x_vendor_extension" not in got["data"]


async def test_emaid_tokens(gateway: RunningGateway, emsp: EmspPeer) -> None:
    put, got = await put_get(gateway, emsp, token("NLEXAC0000000017", type="EMAID"))
    if emsp.ocpi_version == "2.2.1":
        assert put["status_code"] == 2001 and "EMAID" in put["status_message"], put
        assert got["status_code"] == 2001  # ?type=EMAID: not a 2.2.1 TokenType
    else:
        assert put["status_code"] == 1000, put
        assert got["data"]["type"] == "EMAID"


async def test_an_unknown_token_type(gateway: RunningGateway, emsp: EmspPeer) -> None:
    put, got = await put_get(gateway, emsp, token("TAG-1", type="X_VENDOR_KEYFOB"))
    if emsp.ocpi_version == "2.2.1":
        assert put["status_code"] == 2001 and "type" in put["status_message"], put
    else:
        # OpenEnum: accepted and kept as sent.
        assert put["status_code"] == 1000, put
        assert got["data"]["type"] == "X_VENDOR_KEYFOB"
