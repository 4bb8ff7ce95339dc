"""Attacks on the cached authentication of GET /locations, the hottest path: a revoked or
replaced token is refused from the first request sent after the change was committed by
another instance, even while keep-alive connections hammer the gateway; two partners hammering
at once each get their own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from ocpi_gateway.partners.grants import grants_from_options
from ocpi_gateway.partners.models import PartnerRole
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store
from ocpi_gateway.transport.auth import authorization_header
from tests.locations.conftest import EXAMPLE
from tests.openapi import validate_gateway_response
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.locations.extension:install"]
WORKERS = 12


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path, locations_file=EXAMPLE),
                                  extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.fixture
async def elsewhere(gateway: RunningGateway) -> AsyncIterator[PartnerRegistry]:
    """Another instance's registry: its own connection to the same store."""
    store = await open_store(gateway.settings.store_url)
    yield PartnerRegistry(store)
    await store.close()


async def _register(registry: PartnerRegistry, party: str, token: str, version: str) -> str:
    partner = await registry.create(f"eMSP {party}",
                                    grants_from_options(roles=[f"EMSP:NL-{party}"]))
    await registry.register(partner, roles=[PartnerRole(role="EMSP", country_code="NL",
                                                        party_id=party)],
                            versions_url="http://127.0.0.1:1/versions", version=version,
                            endpoints=[], token_to_send="x", send_base64=True,
                            issue_token=token)
    return partner.id


@dataclass
class Sent:
    after_change: bool
    status: int
    ocpi_status: int
    to_party: str | None


class Tally(list[Sent]):
    """The answers so far; ``reached`` waits until there are ``count``."""

    def __init__(self) -> None:
        super().__init__()
        self._grown = asyncio.Condition()

    async def add(self, sent: Sent) -> None:
        async with self._grown:
            self.append(sent)
            self._grown.notify_all()

    async def reached(self, count: int) -> None:
        async with asyncio.timeout(60), self._grown:
            await self._grown.wait_for(lambda: len(self) >= count)


async def _hammer(url: str, header: str, changed: asyncio.Event, stop: asyncio.Event,
                  sent: Tally) -> None:
    async with aiohttp.ClientSession() as session:  # one keep-alive connection each
        while not stop.is_set():
            after_change = changed.is_set()  # read before the request leaves
            async with session.get(url, headers={"Authorization": header}) as response:
                body = await response.json()
                validate_gateway_response("GET", response.url.path, body,
                                          http_status=response.status)
                await sent.add(Sent(after_change, response.status, body["status_code"],
                                    response.headers.get("OCPI-to-party-id")))


@pytest.mark.parametrize("change", ["revoke", "replace the token"])
async def test_a_token_changed_elsewhere_is_refused_from_the_next_request_under_load(
    gateway: RunningGateway, elsewhere: PartnerRegistry, change: str
) -> None:
    partner_id = await _register(gateway.partners, "AAA", "old-token-0123456789abcdef", "2.2.1")
    header = authorization_header("old-token-0123456789abcdef")
    url = f"{gateway.url}/ocpi/2.2.1/locations?limit=1"
    changed, stop, sent = asyncio.Event(), asyncio.Event(), Tally()
    workers = [asyncio.create_task(_hammer(url, header, changed, stop, sent))
               for _ in range(WORKERS)]
    try:
        await sent.reached(5 * WORKERS)  # every cache warm, requests in flight
        partner = await elsewhere.get(partner_id)
        assert partner is not None
        if change == "revoke":
            await elsewhere.revoke(partner_id)
        else:  # a credentials handshake on the other instance: a new token, the old one dead
            await elsewhere.register(partner, roles=partner.roles,
                                     versions_url=str(partner.versions_url),
                                     version="2.2.1", endpoints=[], token_to_send="y",
                                     send_base64=True, issue_token="new-token-0123456789abc")
        changed.set()
        before = len(sent)
        await sent.reached(before + 5 * WORKERS)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    # Sent before: served (or refused, when it was still in flight at the change).
    assert len([s for s in sent if not s.after_change and s.status == 200]) >= 5 * WORKERS
    late = [s for s in sent if s.after_change]
    assert len(late) >= 4 * WORKERS
    assert {(s.status, s.ocpi_status) for s in late} == {(401, 2000)}, late[:5]
    if change != "revoke":
        async with aiohttp.ClientSession() as session, session.get(url, headers={
                "Authorization": authorization_header("new-token-0123456789abc")}) as ok:
            assert ok.status == 200


async def test_two_partners_hammering_each_get_their_own_answer(
    gateway: RunningGateway
) -> None:
    tokens = {"AAA": "token-of-aaa-0123456789abcdef", "BBB": "token-of-bbb-0123456789abcdef"}
    for party, token in tokens.items():
        await _register(gateway.partners, party, token, "2.2.1")
    url = f"{gateway.url}/ocpi/2.2.1/locations?limit=1"
    never, stop = asyncio.Event(), asyncio.Event()
    sent = {party: Tally() for party in tokens}
    workers = [asyncio.create_task(_hammer(url, authorization_header(tokens[party]), never,
                                           stop, sent[party]))
               for party in tokens for _ in range(WORKERS // 2)]
    try:
        for party in tokens:
            await sent[party].reached(10 * WORKERS)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    for party, answers in sent.items():
        # The routing headers swapped: the answer is addressed to the partner that asked.
        assert {(s.status, s.to_party) for s in answers} == {(200, party)}
