"""Partners hold only the roles the operator granted: attacks over the real handshake.

Two eMSPs (real loopback peers) register with a real gateway; one tries to take the other's
role with a credentials PUT, a fresh invitee tries to register as HUB, a hub names parties it
was not granted. Every attempt is refused in OCPI terms and leaves the victim's tokens alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.partners.grants import Grants, grants_from_options
from ocpi_gateway.partners.registry import PARTNERS
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

EXTENSIONS = ["ocpi_gateway.tokens.module:install"]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path), extensions=EXTENSIONS)
    yield running
    await running.stop()


async def _peer(**fields: Any) -> EmspPeer:
    peer = EmspPeer(**fields)
    await peer.start()
    return peer


@pytest.fixture
async def victim(gateway: RunningGateway) -> AsyncIterator[EmspPeer]:
    """eMSP Y (DE-VIC), registered, with a token of its own pushed."""
    peer = await _peer(party_id="VIC", name="Victim")
    _, token_a = await gateway.partners.invite("Y", peer.grants())
    _, body = await peer.register_with(gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    _, body, _ = await peer.call("PUT", _token_url(gateway, "VIC"), json=_token("VIC"))
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


@pytest.fixture
async def attacker(gateway: RunningGateway) -> AsyncIterator[EmspPeer]:
    """eMSP X (DE-ATK), registered."""
    peer = await _peer(party_id="ATK", name="Attacker")
    _, token_a = await gateway.partners.invite("X", peer.grants())
    _, body = await peer.register_with(gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


def _token_url(gateway: RunningGateway, party: str, uid: str = "04AABBCC") -> str:
    return f"{gateway.url}/ocpi/2.2.1/tokens/DE/{party}/{uid}"


def _token(party: str, uid: str = "04AABBCC", **overrides: Any) -> dict[str, Any]:
    return {"country_code": "DE", "party_id": party, "uid": uid, "type": "RFID",
            "contract_id": f"DE-{party}-C12345678-X", "issuer": party, "valid": True,
            "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z", **overrides}


def _role(party: str, role: str = "EMSP") -> dict[str, Any]:
    return {"role": role, "country_code": "DE", "party_id": party,
            "business_details": {"name": party}}


async def test_put_naming_another_partners_role_is_refused(
    gateway: RunningGateway, victim: EmspPeer, attacker: EmspPeer
) -> None:
    attacker.valid_tokens.add("new-b")
    for roles in ([_role("VIC")], [_role("ATK"), _role("VIC")]):
        status, body, _ = await attacker.call("PUT", attacker.credentials_url,
                                              json={**attacker.credentials("new-b"),
                                                    "roles": roles})
        assert body["status_code"] == 2001, body
        assert "EMSP:DE-VIC" in body["status_message"]
    # The refusal changed nothing: the attacker still holds only its own role, with its token.
    partners = {p.name: p for p in await gateway.partners.registered()}
    assert [(r.country_code, r.party_id) for r in partners["X"].roles] == [("DE", "ATK")]
    status, body, _ = await attacker.call("GET", gateway.versions_url)
    assert status == 200
    # ...and cannot read or invalidate Y's token, with or without routing headers.
    as_victim = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "VIC"}
    for headers in (None, as_victim):
        status, body, _ = await attacker.call("GET", _token_url(gateway, "VIC"), headers=headers)
        assert body["status_code"] == 2000 and status in (401, 403), body
        status, body, _ = await attacker.call(
            "PATCH", _token_url(gateway, "VIC"), headers=headers,
            json={"valid": False, "last_updated": "2026-11-24T10:00:00Z"})
        assert body["status_code"] == 2000 and status in (401, 403), body
    status, body, _ = await victim.call("GET", _token_url(gateway, "VIC"))
    assert body["data"]["valid"] is True


async def test_post_with_an_ungranted_role_is_refused_before_calling_the_partner(
    gateway: RunningGateway,
) -> None:
    peer = await _peer(party_id="NEW")
    try:
        _, token_a = await gateway.partners.invite("new", grants_from_options(
            roles=["EMSP:DE-OTH"]))
        _, body = await peer.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001 and "EMSP:DE-NEW" in body["status_message"], body
        assert await gateway.partners.registered() == []
        # The gateway never fetched the versions of a partner it refused.
        assert not [r for r in peer.received if r.path.endswith("/versions")]
        # Token A still works for a corrected attempt.
        assert (await peer.call("GET", gateway.versions_url, token_a))[0] == 200
    finally:
        await peer.close()


async def test_invitee_registering_as_hub_is_refused_unless_granted(
    gateway: RunningGateway, victim: EmspPeer
) -> None:
    hub = await _peer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    try:
        _, token_a = await gateway.partners.invite("hub?", grants_from_options(
            roles=["EMSP:NL-HUB"]))
        _, body = await hub.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001 and "HUB:NL-HUB" in body["status_message"], body
        assert [p.name for p in await gateway.partners.registered()] == ["Y"]
    finally:
        await hub.close()


async def test_hub_acts_only_for_the_parties_it_was_granted(
    gateway: RunningGateway, victim: EmspPeer
) -> None:
    hub = await _peer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    try:
        _, token_a = await gateway.partners.invite("hub", grants_from_options(
            hubs=["NL-HUB"], forwards_for=["DE-HBC,FR-XYZ"]))
        status, body = await hub.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 1000, body
        # Forwarding for a party it was granted works...
        granted = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "HBC"}
        status, body, _ = await hub.call("PUT", _token_url(gateway, "HBC"),
                                         json=_token("HBC"), headers=granted)
        assert body["status_code"] == 1000, body
        # ...for Y (registered directly, not granted to the hub) it does not.
        as_victim = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "VIC"}
        status, body, _ = await hub.call("GET", _token_url(gateway, "VIC"), headers=as_victim)
        assert status == 401 and body["status_code"] == 2000
        assert "not granted to forward for DE-VIC" in body["status_message"]
        status, body, _ = await hub.call("PUT", _token_url(gateway, "VIC"),
                                         json=_token("VIC", valid=False), headers=as_victim)
        assert status == 401
        status, body, _ = await victim.call("GET", _token_url(gateway, "VIC"))
        assert body["data"]["valid"] is True
        # The operator grants one more party: effective at once.
        [record] = [p for p in await gateway.partners.registered() if p.name == "hub"]
        await gateway.partners.grant(record.id, grants_from_options(forwards_for=["DE-HBD"]))
        status, body, _ = await hub.call(
            "PUT", _token_url(gateway, "HBD"), json=_token("HBD"),
            headers={"OCPI-from-country-code": "DE", "OCPI-from-party-id": "HBD"})
        assert body["status_code"] == 1000, body
    finally:
        await hub.close()


async def test_a_role_held_by_another_registered_partner_is_refused(
    gateway: RunningGateway, victim: EmspPeer
) -> None:
    # The operator (by mistake) grants Y's role to a second partner: its handshake still fails.
    twin = await _peer(party_id="VIC", name="Twin")
    try:
        _, token_a = await gateway.partners.invite("twin", twin.grants())
        _, body = await twin.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 2001, body
        assert "EMSP:DE-VIC" in body["status_message"] and "another" in body["status_message"]
        assert [p.name for p in await gateway.partners.registered()] == ["Y"]
    finally:
        await twin.close()


async def test_any_role_accepts_what_the_partner_declares(gateway: RunningGateway) -> None:
    lab = await _peer(party_id="LAB", extra_roles=[_role("LA2")])
    try:
        _, token_a = await gateway.partners.invite("lab", Grants(any_role=True))
        _, body = await lab.register_with(gateway.versions_url, token_a)
        assert body["status_code"] == 1000, body
        [partner] = await gateway.partners.registered()
        assert {r.party_id for r in partner.roles} == {"LAB", "LA2"}
    finally:
        await lab.close()


async def test_many_concurrent_posts_with_one_token_a_register_once(
    gateway: RunningGateway,
) -> None:
    peer = await _peer(party_id="RAC")
    try:
        _, token_a = await gateway.partners.invite("racer", peer.grants())
        url = gateway.url + "/ocpi/2.2.1/credentials"
        tokens = [f"b-{n}" for n in range(20)]
        peer.valid_tokens.update(tokens)
        results = await asyncio.gather(*(
            peer.call("POST", url, token_a, json=peer.credentials(t)) for t in tokens))
        winners = [body for _, body, _ in results if body["status_code"] == 1000]
        assert len(winners) == 1, [body for _, body, _ in results]
        assert all(status in (401, 405) for status, body, _ in results
                   if body["status_code"] != 1000)
        [partner] = await gateway.partners.registered()
        assert partner.token_to_send in tokens
        token_c = winners[0]["data"]["token"]
        assert (await peer.call("GET", gateway.versions_url, token_c))[0] == 200
        assert (await peer.call("GET", gateway.versions_url, token_a))[0] == 401
    finally:
        await peer.close()


async def test_records_from_before_grants_keep_their_roles_as_grants(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path)
    first = await start_gateway(settings, extensions=EXTENSIONS)
    peer = await _peer(party_id="OLD")
    try:
        _, token_a = await first.partners.invite("old", peer.grants())
        _, body = await peer.register_with(first.versions_url, token_a)
        assert body["status_code"] == 1000, body
        [partner] = await first.partners.registered()
        # Make it a record as the previous release wrote it: no grants at all.
        store = first.partners.store
        doc = await store.get(PARTNERS, partner.id)
        assert doc is not None
        del doc["grants"]
        await store.put(PARTNERS, partner.id, doc)
        await first.stop()

        second = await start_gateway(settings, extensions=EXTENSIONS)
        try:
            migrated = await second.partners.store.get(PARTNERS, partner.id)
            assert migrated is not None and migrated["grants"]["migrated"] is True
            assert [(r["role"], r["party_id"]) for r in migrated["grants"]["roles"]] == [
                ("EMSP", "OLD")]
            # Its own role still works, a PUT may keep it, and may not add another.
            peer.valid_tokens.update({"b2", "b3"})
            _, body, _ = await peer.call("PUT", peer.credentials_url,
                                              json=peer.credentials("b2"))
            assert body["status_code"] == 1000, body
            peer.token_for_gateway = body["data"]["token"]
            _, body, _ = await peer.call("PUT", peer.credentials_url, json={
                **peer.credentials("b3"), "roles": [_role("OLD"), _role("NEW")]})
            assert body["status_code"] == 2001 and "EMSP:DE-NEW" in body["status_message"]
            assert await second.partners.migrate_grants() == 0
        finally:
            await second.stop()
    finally:
        await peer.close()


class _Networked:
    """The store as a networked one behaves (MongoDB, another process): every call yields to
    the loop, so concurrent handshakes interleave between their reads and writes."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            result = await method(*args, **kwargs)
            await asyncio.sleep(0)
            return result
        return call


async def test_two_partners_granted_one_role_registering_at_once_get_it_once(
    tmp_path: Path,
) -> None:
    # The operator granted the same role to two partners (a mistake): whatever the timing,
    # one of them holds it, the other is refused.
    from ocpi_gateway.partners.models import PartnerEndpoint, PartnerRole
    from ocpi_gateway.partners.registry import PartnerRegistry, RolesRefused
    from ocpi_gateway.store import open_store

    store = await open_store(f"sqlite:///{tmp_path / 'claims.db'}")
    registry = PartnerRegistry(_Networked(store))
    endpoints = [PartnerEndpoint(identifier="credentials", role="RECEIVER",
                                 url="http://127.0.0.1:1/credentials")]

    async def register(partner: Any, role: PartnerRole) -> str:
        try:
            await registry.register(partner, roles=[role], versions_url="http://127.0.0.1:1/v",
                                    version="2.2.1", endpoints=endpoints, token_to_send="t",
                                    send_base64=True)
        except RolesRefused:
            return "refused"
        return "registered"

    try:
        for n in range(10):
            party = f"R{n:02d}"
            grants = grants_from_options(roles=[f"EMSP:DE-{party}"])
            first, _ = await registry.invite(f"first {n}", grants)
            second, _ = await registry.invite(f"second {n}", grants)
            role = PartnerRole(role="EMSP", country_code="DE", party_id=party)
            outcomes = await asyncio.gather(register(first, role), register(second, role))
            assert sorted(outcomes) == ["refused", "registered"], (n, outcomes)
            holders = [p for p in await registry.registered() if p.has_party("DE", party)]
            assert len(holders) == 1
        # Once the holder is revoked the role is free for the other.
        [holder] = [p for p in await registry.registered() if p.has_party("DE", "R00")]
        other = next(p for p in await registry.list()
                     if p.id != holder.id and p.name.endswith(" 0"))
        await registry.revoke(holder.id)
        assert await register(other, PartnerRole(role="EMSP", country_code="DE",
                                                 party_id="R00")) == "registered"
    finally:
        await store.close()


async def test_a_claim_of_a_handshake_that_died_lapses(tmp_path: Path) -> None:
    from ocpi_gateway.partners.role_claims import (
        PENDING_CLAIM_SECONDS,
        OwnerState,
        RoleClaims,
    )
    from ocpi_gateway.store import open_store

    store = await open_store(f"sqlite:///{tmp_path / 'lapse.db'}")
    now = [1000.0]
    states = {"dead": OwnerState.PENDING, "gone": OwnerState.GONE, "holder": OwnerState.HOLDS}

    async def owner_state(owner: str, key: str) -> OwnerState:
        return states[owner]

    claims = RoleClaims(store, owner_state, clock=lambda: now[0])
    try:
        assert await claims.claim("dead", ["EMSP:DE-AAA"]) == []
        assert await claims.claim("gone", ["EMSP:DE-BBB"]) == []
        assert await claims.claim("holder", ["EMSP:DE-CCC"]) == []
        # An unfinished handshake's claim holds for a while; a gone owner's not at all.
        assert await claims.claim("new", ["EMSP:DE-AAA", "EMSP:DE-BBB"]) == ["EMSP:DE-AAA"]
        now[0] += PENDING_CLAIM_SECONDS + 1
        assert await claims.claim("new", ["EMSP:DE-AAA", "EMSP:DE-CCC"]) == ["EMSP:DE-CCC"]
        await claims.release("new", keep=["EMSP:DE-AAA"])
        assert await claims.claim("other", ["EMSP:DE-BBB"]) == []
    finally:
        await store.close()
