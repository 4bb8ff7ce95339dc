"""The eMSP registers with us: we are the credentials server (POST, PUT, GET, DELETE)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from tests.conftest import free_port
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import (
    ROLE_BE,
    ROLE_NL,
    RunningGateway,
    gateway_settings,
    start_gateway,
)


async def _registered(gateway: RunningGateway, emsp: EmspPeer) -> str:
    _, token_a = await gateway.partners.invite("Test eMSP", emsp.grants())
    status, body = await emsp.register_with(gateway.versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    return token_a


async def test_post_registers_and_issues_token_c(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, token_a = await gateway.partners.invite("Test eMSP", emsp.grants())
    status, body = await emsp.register_with(gateway.versions_url, token_a)
    assert status == 200, body
    assert body["status_code"] == 1000
    data = body["data"]
    assert data["token"] != token_a and len(data["token"]) >= 22
    assert data["url"] == gateway.versions_url
    assert data["roles"] == [{"role": "CPO", "party_id": "EXA", "country_code": "NL",
                              "business_details": {"name": "Example CPO"}}]
    [partner] = await gateway.partners.registered()
    assert partner.version == "2.2.1"
    assert partner.endpoint("locations", "RECEIVER") == f"{emsp.base_url}/emsp/2.2.1/locations"
    assert partner.has_party("DE", "EMS")
    # The gateway keeps our token B, as given, to call us, and calls us the way we called it
    # (base64) from the first request on.
    assert partner.token_to_send in emsp.valid_tokens
    token_b = base64.b64encode(partner.token_to_send.encode()).decode()
    assert emsp.authorizations and set(emsp.authorizations) == {f"Token {token_b}"}
    assert await gateway.partners.headers_for(partner.id) is not None


async def test_token_a_stops_working_after_registration(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    token_a = await _registered(gateway, emsp)
    status, body, _ = await emsp.call("GET", gateway.versions_url, token_a)
    assert status == 401 and body["status_code"] == 2000
    status, _, _ = await emsp.call("POST", emsp.credentials_url, token_a,
                                   json=emsp.credentials("another-token-b"))
    assert status == 401
    status, body, _ = await emsp.call("GET", gateway.versions_url)  # token C
    assert status == 200 and body["data"][0]["version"] == "2.2.1"


async def test_post_twice_is_405(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await _registered(gateway, emsp)
    status, body, _ = await emsp.call("POST", emsp.credentials_url,
                                      json=emsp.credentials("yet-another-token"))
    assert status == 405 and body["status_code"] == 2000


async def test_put_before_registration_is_405(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, token_a = await gateway.partners.invite("Test eMSP", emsp.grants())
    status, body, _ = await emsp.call("PUT", gateway.url + "/ocpi/2.2.1/credentials", token_a,
                                      json=emsp.credentials("token-b"))
    assert status == 405 and body["status_code"] == 2000
    assert await gateway.partners.registered() == []


async def test_put_refetches_endpoints_and_rotates_token(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _registered(gateway, emsp)
    old_c = emsp.token_for_gateway
    assert old_c is not None
    emsp.modules = (*emsp.modules, "sessions")  # same version, new endpoint
    emsp.valid_tokens.add("new-token-b")
    status, body, _ = await emsp.call("PUT", emsp.credentials_url,
                                      json=emsp.credentials("new-token-b"))
    assert status == 200 and body["status_code"] == 1000, body
    new_c = body["data"]["token"]
    assert new_c != old_c
    [partner] = await gateway.partners.registered()
    assert partner.endpoint("sessions") is not None
    assert partner.token_to_send == "new-token-b"
    assert (await emsp.call("GET", gateway.versions_url, old_c))[0] == 401
    assert (await emsp.call("GET", gateway.versions_url, new_c))[0] == 200


async def test_get_returns_our_credentials(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await _registered(gateway, emsp)
    status, body, _ = await emsp.call("GET", emsp.credentials_url)
    assert status == 200
    assert body["data"]["token"] == emsp.token_for_gateway
    assert body["data"]["url"] == gateway.versions_url


async def test_delete_unregisters_and_stops_traffic(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _registered(gateway, emsp)
    [partner] = await gateway.partners.registered()
    status, body, _ = await emsp.call("DELETE", emsp.credentials_url)
    assert status == 200 and body["status_code"] == 1000
    assert await gateway.partners.registered() == []
    assert await gateway.partners.headers_for(partner.id) is None  # no more pushes to it
    assert (await emsp.call("GET", gateway.versions_url))[0] == 401
    assert (await emsp.call("DELETE", emsp.credentials_url))[0] == 401


async def test_delete_before_registration_is_405(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, token_a = await gateway.partners.invite("Test eMSP", emsp.grants())
    status, _, _ = await emsp.call("DELETE", gateway.url + "/ocpi/2.2.1/credentials", token_a)
    assert status == 405


async def test_plain_token_accepted_and_remembered(gateway: RunningGateway) -> None:
    peer = EmspPeer(plain_tokens_only=True)
    await peer.start()
    try:
        _, token_a = await gateway.partners.invite("Old eMSP", peer.grants())
        status, body = await peer.register_with(gateway.versions_url, token_a,
                                                base64_token=False)
        assert status == 200 and body["status_code"] == 1000, body
        [partner] = await gateway.partners.registered()
        assert partner.send_base64 is False
        headers = await gateway.partners.headers_for(partner.id)
        assert headers == {"Authorization": f"Token {partner.token_to_send}"}
        # Called unencoded from the first request on, not after a refused base64 attempt.
        assert peer.authorizations and set(peer.authorizations) == {
            f"Token {partner.token_to_send}"}
        status, _, _ = await peer.call("GET", gateway.versions_url, base64_token=False)
        assert status == 200
    finally:
        await peer.close()


async def test_partner_unreachable_is_3001(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, token_a = await gateway.partners.invite("Gone eMSP", emsp.grants())
    credentials = {**emsp.credentials("token-b"),
                   "url": f"http://127.0.0.1:{free_port()}/emsp/versions"}
    status, body, _ = await emsp.call("POST", gateway.url + "/ocpi/2.2.1/credentials", token_a,
                                      json=credentials)
    assert status == 200 and body["status_code"] == 3001, body
    assert await gateway.partners.registered() == []
    assert (await emsp.call("GET", gateway.versions_url, token_a))[0] == 200  # A still valid


async def test_missing_endpoints_is_3003(gateway: RunningGateway) -> None:
    peer = EmspPeer(modules=("locations",))
    await peer.start()
    try:
        _, token_a = await gateway.partners.invite("Partial eMSP", peer.grants())
        status, body = await peer.register_with(gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 3003, body
        assert "credentials" in body["status_message"]
        assert await gateway.partners.registered() == []
    finally:
        await peer.close()


async def test_no_common_version_is_3002(gateway: RunningGateway) -> None:
    peer = EmspPeer(versions=("2.1.1",))
    await peer.start()
    try:
        _, token_a = await gateway.partners.invite("Old eMSP", peer.grants())
        status, body = await peer.register_with(gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 3002, body
        assert await gateway.partners.registered() == []
    finally:
        await peer.close()


async def test_invalid_credentials_body_is_2001_naming_the_field(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    _, token_a = await gateway.partners.invite("Sloppy eMSP", emsp.grants())
    url = gateway.url + "/ocpi/2.2.1/credentials"
    bad = emsp.credentials("token-b")
    bad["roles"][0]["party_id"] = "TOOLONG"
    status, body, _ = await emsp.call("POST", url, token_a, json=bad)
    assert status == 200 and body["status_code"] == 2001
    assert "roles.0.party_id" in body["status_message"]
    status, body, _ = await emsp.call("POST", url, token_a, json={"url": emsp.versions_url})
    assert body["status_code"] == 2001 and "token" in body["status_message"]


async def test_hub_registers_and_sees_every_cpo_role(tmp_path: Path) -> None:
    gateway = await start_gateway(gateway_settings(tmp_path, roles=(ROLE_NL, ROLE_BE)),
                                  extensions=[])
    hub = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    await hub.start()
    try:
        _, token_a = await gateway.partners.invite("Hub", hub.grants())
        status, body = await hub.register_with(gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 1000, body
        assert [(r["country_code"], r["party_id"]) for r in body["data"]["roles"]] == [
            ("NL", "EXA"), ("BE", "EXB")]
        [partner] = await gateway.partners.registered()
        assert [r.role for r in partner.roles] == ["HUB"]
    finally:
        await hub.close()
        await gateway.stop()


async def test_credentials_survive_a_restart(tmp_path: Path, emsp: EmspPeer) -> None:
    settings = gateway_settings(tmp_path)
    first = await start_gateway(settings, extensions=[])
    _, token_a = await first.partners.invite("Test eMSP", emsp.grants())
    status, body = await emsp.register_with(first.versions_url, token_a)
    assert body["status_code"] == 1000, body
    await first.stop()

    second = await start_gateway(settings, extensions=[])
    try:
        status, body, _ = await emsp.call("GET", emsp.credentials_url)
        assert status == 200 and body["data"]["token"] == emsp.token_for_gateway
        [partner] = await second.partners.registered()
        assert partner.endpoint("credentials") == f"{emsp.base_url}/emsp/2.2.1/credentials"
        assert (await emsp.call("GET", second.versions_url, token_a))[0] == 401
    finally:
        await second.stop()


async def test_concurrent_posts_with_one_token_a_register_once(
    gateway: RunningGateway, emsp: EmspPeer
) -> None:
    _, token_a = await gateway.partners.invite("Test eMSP", emsp.grants())
    url = gateway.url + "/ocpi/2.2.1/credentials"
    emsp.valid_tokens.update({"b1", "b2"})
    results = await asyncio.gather(
        emsp.call("POST", url, token_a, json=emsp.credentials("b1")),
        emsp.call("POST", url, token_a, json=emsp.credentials("b2")))
    codes = sorted(body["status_code"] for _, body, _ in results)
    assert codes == [1000, 2000]
    winner = next(body["data"]["token"] for _, body, _ in results if body["status_code"] == 1000)
    assert (await emsp.call("GET", gateway.versions_url, winner))[0] == 200
    assert len(await gateway.partners.registered()) == 1
