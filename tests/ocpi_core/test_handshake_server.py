"""The eMSP registers with us (we are the credentials server)."""

from __future__ import annotations

from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway


async def test_post_registers_and_issues_token_c(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, token_a = await gateway.partners.invite("Test eMSP")
    status, body = await emsp.register_with(gateway.versions_url, token_a)
    assert status == 200, body
    assert body["status_code"] == 1000
    data = body["data"]
    assert data["token"] != token_a and len(data["token"]) >= 22
    assert data["url"] == gateway.versions_url
    assert [r["party_id"] for r in data["roles"]] == ["EXA"]
    [partner] = await gateway.partners.registered()
    assert partner.version == "2.2.1"
    assert partner.endpoint("locations", "RECEIVER") == f"{emsp.base_url}/emsp/2.2.1/locations"
    assert partner.has_party("DE", "EMS")
    # The gateway keeps our token B to call us, as given.
    assert partner.token_to_send in emsp.valid_tokens
