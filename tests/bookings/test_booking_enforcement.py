"""Enforcement of bookings inside the real gateway app (2.3.0 eMSP peers on loopback, every
answer validated against the official OpenAPI): the bookings admission consults the same rule
as RESERVE_NOW (a banned token's booking is REJECTED saying until when and why, another
eMSP's token with the same uid is not touched), and a booking ending NO_SHOW strikes its
tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.metrics import REGISTRY
from ocpi_gateway.reservation_policy.bookings.records import booking_key
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservations.extension import ENFORCEMENT
from tests.bookings.support import Clock
from tests.bookings.test_bookings_module import MODULES_230, POLICY, Site, register, stamp
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import gateway_settings, start_gateway

NEW = Partner("DE", "NEW")
STRIKES = "  no_show_strikes: {count: 1, within_days: 30, ban_days: 3}\n"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("defaults:\n", "defaults:\n" + STRIKES), encoding="utf-8")
    clock = Clock(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    gateway = await start_gateway(gateway_settings(
        tmp_path, locations_file=EXAMPLE, policy_file=policy), clock=clock)
    emsp = await register(gateway, EmspPeer(party_id="NEW", modules=MODULES_230,
                                            versions=("2.3.0",), ocpi_version="2.3.0"))
    other = await register(gateway, EmspPeer(party_id="OTH", modules=MODULES_230,
                                             versions=("2.3.0",), ocpi_version="2.3.0"))
    yield Site(gateway, clock, emsp, other, other)
    for peer in (emsp, other):
        await peer.close()
    await gateway.stop()


def with_token(site: Site, request_id: str, uid: str, peer: EmspPeer | None = None
               ) -> dict[str, object]:
    peer = peer or site.emsp
    body = site.request(request_id, peer=peer)
    body["tokens"] = [{"country_code": peer.country_code, "party_id": peer.party_id,
                       "uid": uid, "type": "RFID", "contract_id": f"DE-{uid}"}]
    return body


async def test_a_banned_tokens_booking_is_rejected_saying_until_when_and_why(
        site: Site) -> None:
    enforcement = site.gateway.app[ENFORCEMENT]
    until = site.clock.now + timedelta(days=2)
    await enforcement.set_ban(NEW, "CARD-9", until=until, reason="card misuse", by="ops")
    before = REGISTRY.get_sample_value("ocpi_enforcement_refusals_total",
                                       {"reason": "token_banned"}) or 0.0
    status, body = await site.post(with_token(site, "B1", "card-9"))
    assert status == 200 and body["data"]["reservation_status"] == "REJECTED"
    assert body["status_message"] == (f"token CARD-9 may not reserve or book until "
                                      f"{stamp(until)}: banned by the operator: card misuse")
    assert (REGISTRY.get_sample_value("ocpi_enforcement_refusals_total",
                                      {"reason": "token_banned"}) or 0.0) == before + 1
    status, body = await site.post(with_token(site, "B1", "CARD-9", site.other),
                                   site.other)
    # Another eMSP's token with the same uid is another token.
    assert status == 200 and body["data"]["reservation_status"] == "RESERVED"


async def test_a_booking_ending_no_show_bans_its_token(site: Site) -> None:
    status, body = await site.post(with_token(site, "B1", "CARD-1"))
    assert status == 200 and body["data"]["reservation_status"] == "RESERVED"
    bookings = site.gateway.app[BOOKINGS].service
    booked = await bookings.ledger.get(booking_key(NEW, "B1"))
    assert booked is not None
    ended = await bookings.no_show(booked)
    assert ended is not None and ended.state is BookingState.NO_SHOW
    [record] = await site.gateway.app[ENFORCEMENT].records.of_token(NEW, "CARD-1")
    assert (record.kind.value, record.reference, record.location_id) == (
        "booking", booked.id, booked.location_id)
    status, body = await site.post(with_token(site, "B2", "CARD-1"))
    assert status == 200 and body["data"]["reservation_status"] == "REJECTED"
    assert body["status_message"].endswith(": 1 no-shows within 30 days")
    status, body = await site.post(with_token(site, "B3", "CARD-2"))
    assert status == 200 and body["data"]["reservation_status"] == "RESERVED"
