"""Tokens receiver over HTTP against the real app, and the authorizer chargers consult."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.domain.authorization import AuthorizationStatus
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

EXTENSIONS = ["ocpi_gateway.tokens.module:install"]


def token(uid: str = "012345678", **overrides: Any) -> dict[str, Any]:
    return {
        "country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID",
        "contract_id": "DE-EMS-C12345678-X", "issuer": "Test eMSP", "valid": True,
        "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z", **overrides,
    }


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path), extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.fixture
async def emsp(gateway: RunningGateway) -> AsyncIterator[EmspPeer]:
    peer = EmspPeer()
    await peer.start()
    _, token_a = await gateway.partners.invite("test emsp", peer.grants())
    status, body = await peer.register_with(gateway.versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    yield peer
    await peer.close()


def url(gateway: RunningGateway, uid: str = "012345678", cc: str = "DE", pid: str = "EMS") -> str:
    return f"{gateway.url}/ocpi/2.2.1/tokens/{cc}/{pid}/{uid}"


async def test_versions_list_tokens_as_receiver(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _, body, _ = await emsp.call("GET", gateway.url + "/ocpi/2.2.1")
    endpoints = {(e["identifier"], e["role"]) for e in body["data"]["endpoints"]}
    assert ("tokens", "RECEIVER") in endpoints


async def test_put_then_get_returns_the_token(gateway: RunningGateway, emsp: EmspPeer) -> None:
    status, body, _ = await emsp.call("PUT", url(gateway), json=token())
    assert (status, body["status_code"]) == (200, 1000)
    _status, body, _ = await emsp.call("GET", url(gateway))
    assert status == 200
    assert body["data"]["contract_id"] == "DE-EMS-C12345678-X"
    assert body["data"]["whitelist"] == "ALWAYS"


async def test_get_unknown_token_is_2004(gateway: RunningGateway, emsp: EmspPeer) -> None:
    status, body, _ = await emsp.call("GET", url(gateway, "NOPE"))
    assert status == 404
    assert body["status_code"] == 2004


async def test_type_parameter_separates_tokens(gateway: RunningGateway, emsp: EmspPeer) -> None:
    await emsp.call("PUT", url(gateway) + "?type=APP_USER", json=token(type="APP_USER"))
    _status, body, _ = await emsp.call("GET", url(gateway))
    assert body["status_code"] == 2004  # RFID is the default type, and none was pushed
    _status, body, _ = await emsp.call("GET", url(gateway) + "?type=APP_USER")
    assert body["data"]["type"] == "APP_USER"


async def test_patch_invalidates_and_requires_last_updated(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    await emsp.call("PUT", url(gateway), json=token())
    _status, body, _ = await emsp.call("PATCH", url(gateway), json={"valid": False})
    assert body["status_code"] == 2001
    assert "last_updated" in body["status_message"]
    _status, body, _ = await emsp.call(
        "PATCH", url(gateway), json={"valid": False, "last_updated": "2026-11-23T11:00:00Z"})
    assert body["status_code"] == 1000
    _, body, _ = await emsp.call("GET", url(gateway))
    assert body["data"]["valid"] is False


async def test_invalid_body_names_the_field(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _status, body, _ = await emsp.call("PUT", url(gateway), json=token(whitelist="SOMETIMES"))
    assert body["status_code"] == 2001
    assert "whitelist" in body["status_message"]
    _status, body, _ = await emsp.call("PUT", url(gateway), json=token(issuer="x" * 65))
    assert body["status_code"] == 2001
    assert "issuer" in body["status_message"]


async def test_body_must_match_url(gateway: RunningGateway, emsp: EmspPeer) -> None:
    _status, body, _ = await emsp.call("PUT", url(gateway, "OTHER"), json=token())
    assert body["status_code"] == 2001


async def test_partner_cannot_write_under_another_party(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    status, body, _ = await emsp.call("PUT", url(gateway, cc="NL", pid="XXX"),
                                      json=token(country_code="NL", party_id="XXX"))
    assert status == 403
    assert body["status_code"] == 2000


async def test_authorizer_decides_from_pushed_tokens(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    long_uid = "APP-" + "7" * 30
    await emsp.call("PUT", url(gateway), json=token())
    await emsp.call("PUT", url(gateway, long_uid) + "?type=APP_USER",
                    json=token(long_uid, type="APP_USER"))
    await emsp.call("PUT", url(gateway, "BLOCKED1"), json=token("BLOCKED1", valid=False))
    authorizer = gateway.app[TOKEN_AUTHORIZER]
    assert (await authorizer.authorize("CP-1", "012345678")).status is AuthorizationStatus.ACCEPTED
    # A 1.6 charger knows a long uid only by its 20-character digest.
    digest = ocpp16_id_tag(long_uid)
    assert (await authorizer.authorize("CP-1", digest)).status is AuthorizationStatus.ACCEPTED
    assert (await authorizer.authorize("CP-1", "BLOCKED1")).status is AuthorizationStatus.BLOCKED
    assert (await authorizer.authorize("CP-1", "UNKNOWN")).status is AuthorizationStatus.INVALID


async def test_command_tokens_are_accepted_while_remembered(gateway: RunningGateway) -> None:
    from ocpi_gateway.tokens.handlers import TOKENS

    repo = gateway.app[TOKENS]
    authorizer = gateway.app[TOKEN_AUTHORIZER]
    await repo.remember_command_token("APPTOKEN1", datetime.now(UTC) + timedelta(minutes=15))
    await repo.remember_command_token("OLDTOKEN1", datetime.now(UTC) - timedelta(minutes=1))
    assert (await authorizer.authorize("CP-1", "APPTOKEN1")).accepted
    assert not (await authorizer.authorize("CP-1", "OLDTOKEN1")).accepted


async def test_token_uid_is_case_insensitive(gateway: RunningGateway, emsp: EmspPeer) -> None:
    # mod_tokens: token_uid and Token.uid are CiString(36).
    await emsp.call("PUT", url(gateway, "04a2b3c4"), json=token("04a2b3c4"))
    status, body, _ = await emsp.call("GET", url(gateway, "04A2B3C4"))
    assert (status, body["status_code"]) == (200, 1000), body
    # A push under the other case replaces the token rather than adding a second one.
    await emsp.call("PUT", url(gateway, "04A2B3C4"), json=token("04A2B3C4", valid=False))
    _status, body, _ = await emsp.call("GET", url(gateway, "04a2b3c4"))
    assert body["data"]["valid"] is False
    status, body, _ = await emsp.call("PATCH", url(gateway, "04a2B3c4"), json={
        "whitelist": "NEVER", "last_updated": "2026-11-23T11:00:00Z"})
    assert (status, body["status_code"]) == (200, 1000), body


async def test_chargers_present_uids_in_any_case(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    from ocpi_gateway.tokens.handlers import TOKENS

    # A 1.6 idTag is a CiString20Type: a reader may report the card's hex in either case.
    await emsp.call("PUT", url(gateway, "ab12cd"), json=token("ab12cd"))
    authorizer = gateway.app[TOKEN_AUTHORIZER]
    assert (await authorizer.authorize("CP-1", "AB12CD")).status is AuthorizationStatus.ACCEPTED
    await emsp.call("PUT", url(gateway, "AB12CD"), json=token("AB12CD", valid=False))
    assert (await authorizer.authorize("CP-1", "ab12cd")).status is AuthorizationStatus.BLOCKED
    await gateway.app[TOKENS].remember_command_token(
        "app-token-1", datetime.now(UTC) + timedelta(minutes=5))
    assert (await authorizer.authorize("CP-1", "APP-TOKEN-1")).accepted


async def test_hub_pushes_tokens_of_its_connected_emsp(gateway: RunningGateway) -> None:
    # transport_and_format, Party to Party via Hub: OCPI-from-* names the eMSP, whose token
    # (client-owned object) is addressed by the eMSP's country_code/party_id.
    hub = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    await hub.start()
    try:
        _, token_a = await gateway.partners.invite("hub", hub.grants(forwards_for=("DE-EMS",)))
        await hub.register_with(gateway.versions_url, token_a)
        routed = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
                  "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"}
        status, body, _ = await hub.call("PUT", url(gateway), json=token(), headers=routed)
        assert (status, body["status_code"]) == (200, 1000), body
        status, body, _ = await hub.call("GET", url(gateway), headers=routed)
        assert body["data"]["uid"] == "012345678"
        # Only the party the request is routed from, not any party.
        status, body, _ = await hub.call("GET", url(gateway, cc="FR", pid="OTH"), headers=routed)
        assert status == 403
    finally:
        await hub.close()


async def test_get_returns_last_updated_in_utc(gateway: RunningGateway, emsp: EmspPeer) -> None:
    # transport_and_format / types DateTime: every timestamp we send is UTC.
    await emsp.call("PUT", url(gateway), json=token(last_updated="2026-11-23T12:00:00+02:00"))
    _status, body, _ = await emsp.call("GET", url(gateway))
    assert body["data"]["last_updated"] == "2026-11-23T10:00:00.000Z"
    await emsp.call("PATCH", url(gateway), json={"last_updated": "2026-11-23T11:30:00"})
    _status, body, _ = await emsp.call("GET", url(gateway))
    assert body["data"]["last_updated"] == "2026-11-23T11:30:00.000Z"  # no designator: UTC
    status, body, _ = await emsp.call("PUT", url(gateway), json=token(
        last_updated="0001-01-01T00:00:00+01:00"))
    assert (status, body["status_code"]) == (200, 2001), body


async def test_whitelist_never_asks_the_emsp_in_real_time(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    authorizer = gateway.app[TOKEN_AUTHORIZER]
    await emsp.call("PUT", url(gateway, "NEVER1"), json=token("NEVER1", whitelist="NEVER"))
    await emsp.call("PUT", url(gateway, "NEVER2"), json=token("NEVER2", whitelist="NEVER"))
    emsp.authorize_answers = {"NEVER1": "ALLOWED", "NEVER2": "NO_CREDIT"}
    assert (await authorizer.authorize("CP-1", "NEVER1")).accepted
    assert (await authorizer.authorize("CP-1", "NEVER2")).status is AuthorizationStatus.INVALID
    asked = [r for r in emsp.received if r.path.endswith("/authorize")]
    assert [r.path.split("/")[-2] for r in asked] == ["NEVER1", "NEVER2"]
    assert asked[0].headers["OCPI-to-party-id"] == "EMS"
    # A whitelisted token is never asked about.
    await emsp.call("PUT", url(gateway, "ALWAYS1"), json=token("ALWAYS1"))
    assert (await authorizer.authorize("CP-1", "ALWAYS1")).accepted
    assert len([r for r in emsp.received if r.path.endswith("/authorize")]) == 2


async def test_unreachable_emsp_refuses_never_but_admits_allowed_offline(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    authorizer = gateway.app[TOKEN_AUTHORIZER]
    await emsp.call("PUT", url(gateway, "NEVER3"), json=token("NEVER3", whitelist="NEVER"))
    await emsp.call("PUT", url(gateway, "OFFL1"),
                    json=token("OFFL1", whitelist="ALLOWED_OFFLINE"))
    emsp.authorize_answers = {"OFFL1": "BLOCKED"}
    assert (await authorizer.authorize("CP-1", "OFFL1")).status is AuthorizationStatus.BLOCKED
    await emsp.close()  # the eMSP is gone
    assert (await authorizer.authorize("CP-1", "NEVER3")).status is AuthorizationStatus.INVALID
    assert (await authorizer.authorize("CP-1", "OFFL1")).accepted


async def test_commanded_token_skips_real_time_authorization(
        gateway: RunningGateway, emsp: EmspPeer) -> None:
    from ocpi_gateway.tokens.handlers import TOKENS

    # mod_commands: no real-time authorization of a START_SESSION's token for 15 minutes.
    await emsp.call("PUT", url(gateway, "NEVER4"), json=token("NEVER4", whitelist="NEVER"))
    await gateway.app[TOKENS].remember_command_token(
        "NEVER4", datetime.now(UTC) + timedelta(minutes=15))
    assert (await gateway.app[TOKEN_AUTHORIZER].authorize("CP-1", "NEVER4")).accepted
    assert not [r for r in emsp.received if r.path.endswith("/authorize")]
