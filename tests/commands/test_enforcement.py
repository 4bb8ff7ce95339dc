"""Enforcement end to end: real chargers (OCPP 1.6 and 2.0.1 over websockets), real eMSPs
(2.2.1 and 2.3.0, every body they receive validated against the official OpenAPI) and the
gateway's clock moved by the test. A token banned after its no-shows is refused with when and
why, and reserves again after ban_days; the charger's ReserveNow expiry includes the grace
period; an eMSP above the no-show rate is refused; and what an eMSP cannot do to bans."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16

from ocpi_gateway import keys
from ocpi_gateway.metrics import REGISTRY
from ocpi_gateway.reservation_policy.enforcement.records import NoShowRepository
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import ReservationState
from ocpi_gateway.reservations.extension import ENFORCEMENT, RESERVATIONS
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    MovableClock,
    World,
    close_world,
    eventually,
    open_world,
    policy_doc,
    token,
)
from tests.peers.emsp import EmspPeer

EMSP = Partner("DE", "EMS")
GRACE = 5
STRIKES = {"count": 2, "within_days": 30, "ban_days": 7}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


class Scene:
    def __init__(self, world: World, clock: MovableClock, other: EmspPeer) -> None:
        self.world, self.clock, self.other = world, clock, other
        self.sent = 0

    def body(self, peer: EmspPeer, reservation_id: str, *, evse_uid: str | None = None,
             minutes: float = 10, **token_fields: Any) -> tuple[str, dict[str, Any]]:
        self.sent += 1
        name = f"{reservation_id}-{self.sent}"
        body: dict[str, Any] = {
            "response_url": peer.response_url(name), "reservation_id": reservation_id,
            "token": token(**token_fields), "expiry_date": self.clock.in_minutes(minutes),
            "location_id": LOCATION}
        if evse_uid is not None:
            body["evse_uid"] = evse_uid
        return name, body

    async def reserve(self, reservation_id: str, *, peer: EmspPeer | None = None,
                      **fields: Any) -> dict[str, Any]:
        """RESERVE_NOW, and the CommandResult the eMSP got for it."""
        peer = peer or self.world.emsp
        name, body = self.body(peer, reservation_id, **fields)
        status, reply, _ = await peer.call(
            "POST", f"{self.world.gateway.url}/ocpi/{peer.ocpi_version}/commands/RESERVE_NOW",
            json=body)
        assert status == 200 and reply["data"]["result"] == "ACCEPTED", reply
        got = await eventually(lambda: peer.command_results.get(name))
        assert got, f"no CommandResult for {name}"
        return dict(got[0])

    async def state(self, reservation_id: str, partner: Partner = EMSP) -> ReservationState:
        r = await self.world.gateway.app[RESERVATIONS].get(partner, reservation_id)
        assert r is not None
        return r.state

    async def no_show(self, reservation_id: str, *, minutes: float = 10) -> None:
        """Let the reservation run out: still live within the grace period, expired by the
        gateway's expiry clock once it passed."""
        service = self.world.gateway.app[RESERVATIONS]
        self.clock.advance(minutes=minutes + GRACE, seconds=-1)
        assert await service.expire_due() == 0
        assert await self.state(reservation_id) is ReservationState.ACTIVE
        self.clock.advance(seconds=1)
        assert await eventually(
            lambda: _is(self.state(reservation_id), ReservationState.EXPIRED))


async def _is(state: Any, expected: ReservationState) -> bool:
    return bool(await state == expected)


async def _open(tmp_path: Path, **policy: Any) -> AsyncIterator[Scene]:
    clock = MovableClock()
    world = await open_world(tmp_path, clock=clock, policy=policy_doc(
        grace_minutes=GRACE, no_show_strikes=STRIKES, **policy))
    other = EmspPeer(country_code="NL", party_id="OTH", versions=("2.2.1", "2.3.0"),
                     ocpi_version="2.3.0")
    try:
        await other.start()
        _, token_a = await world.gateway.partners.invite("other emsp", other.grants())
        status, _ = await other.register_with(world.gateway.versions_url, token_a)
        assert status == 200
        await world.all_available()
        yield Scene(world, clock, other)
    finally:
        await other.close()
        await close_world(world)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    async for opened in _open(tmp_path):
        yield opened


async def test_banned_after_no_shows_refused_then_reserving_again_after_ban_days(
        scene: Scene) -> None:
    world, clock = scene.world, scene.clock
    no_shows_before = sample("ocpi_no_shows_total", kind="reservation")
    bans_before = sample("ocpi_token_bans_total", source="no_shows")
    refusals_before = sample("ocpi_enforcement_refusals_total", reason="token_banned")

    assert (await scene.reserve("R1", evse_uid="E1"))["result"] == "ACCEPTED"
    [sent16] = world.received(CP16, "ReserveNow")
    assert parse(sent16["expiry_date"]) == parse(clock.in_minutes(10 + GRACE))
    await scene.no_show("R1")
    assert (await scene.reserve("R2", evse_uid="E3"))["result"] == "ACCEPTED"
    [sent201] = world.received(CP201, "ReserveNow")
    assert parse(sent201["expiry_date_time"]) == parse(clock.in_minutes(10 + GRACE))
    await scene.no_show("R2")

    banned_at = clock()
    records = await NoShowRepository(world.gateway.app[keys.STORE]).of_token(EMSP, "DEEMS0001")
    assert [(r.reference, r.location_id) for r in records] == [("R1", LOCATION),
                                                                ("R2", LOCATION)]
    assert sample("ocpi_no_shows_total", kind="reservation") - no_shows_before == 2
    assert sample("ocpi_token_bans_total", source="no_shows") - bans_before == 1

    until = z(banned_at + timedelta(days=7))
    refused = await scene.reserve("R3")
    assert refused["result"] == "REJECTED"
    assert refused["message"] == [{"language": "en", "text":
                                   f"token DEEMS0001 may not reserve or book until {until}: "
                                   "2 no-shows within 30 days"}]
    # A CiString: the same token in another case is the same token.
    assert (await scene.reserve("R4", uid="deems0001"))["result"] == "REJECTED"
    assert sample("ocpi_enforcement_refusals_total", reason="token_banned") \
        - refusals_before == 2
    reserve_nows = len(world.all_received("ReserveNow"))

    # Another eMSP's token with the same uid is another token.
    other = await scene.reserve("R1", peer=scene.other, country_code="NL", party_id="OTH")
    assert other["result"] == "ACCEPTED"
    assert len(world.all_received("ReserveNow")) == reserve_nows + 1

    clock.advance(days=7, seconds=-1)
    assert (await scene.reserve("R5"))["result"] == "REJECTED"
    clock.advance(seconds=1)
    assert (await scene.reserve("R6", evse_uid="E1"))["result"] == "ACCEPTED"
    assert await scene.state("R6") is ReservationState.ACTIVE


async def test_a_reservation_used_within_its_grace_period_is_no_no_show(
        scene: Scene) -> None:
    world, clock = scene.world, scene.clock
    await scene.reserve("R1", evse_uid="E1")
    ocpp_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    clock.advance(minutes=10 + GRACE - 1)  # past the expiry the eMSP asked for
    assert await world.gateway.app[RESERVATIONS].expire_due() == 0
    await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=1, id_tag="DEEMS0001", meter_start=0, timestamp=z(clock()),
        reservation_id=ocpp_id))
    assert await eventually(lambda: _is(scene.state("R1"), ReservationState.USED))
    standing = await world.gateway.app[ENFORCEMENT].standing(EMSP, "DEEMS0001", LOCATION)
    assert standing.no_shows == () and standing.counts.ended == 1


@pytest.fixture
async def rated(tmp_path: Path) -> AsyncIterator[Scene]:
    async for opened in _open(tmp_path, max_no_show_rate={
            "rate": 0.5, "within_days": 30, "min_reservations": 3}):
        yield opened


async def test_above_the_no_show_rate_the_emsp_is_refused(rated: Scene) -> None:
    scene = rated
    world = scene.world
    before = sample("ocpi_enforcement_refusals_total", reason="no_show_rate")
    await scene.reserve("U1", evse_uid="E1")
    ocpp_id = world.received(CP16, "ReserveNow")[0]["reservation_id"]
    await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=1, id_tag="DEEMS0001", meter_start=0, timestamp=z(scene.clock()),
        reservation_id=ocpp_id))
    assert await eventually(lambda: _is(scene.state("U1"), ReservationState.USED))
    await scene.reserve("N1", evse_uid="E2", uid="TOKEN-A")
    await scene.no_show("N1")
    assert (await scene.reserve("N2", evse_uid="E3", uid="TOKEN-B"))["result"] \
        == "ACCEPTED"  # 1 of 2 ended: fewer than 3 ended, no rate yet
    await scene.no_show("N2")
    refused = await scene.reserve("N3", uid="TOKEN-C")
    assert refused["result"] == "REJECTED"
    assert refused["message"][0]["text"] == (
        "eMSP DE-EMS: 2 of the 3 reservations and bookings ended in the last 30 days "
        "were no-shows (67%), more than the 50% allowed")
    assert sample("ocpi_enforcement_refusals_total", reason="no_show_rate") - before == 1
    other = await scene.reserve("O1", peer=scene.other, country_code="NL",
                                party_id="OTH", uid="TOKEN-C")
    assert other["result"] == "ACCEPTED"


async def test_an_emsp_can_neither_see_nor_lift_a_ban(scene: Scene) -> None:
    world, clock = scene.world, scene.clock
    enforcement = world.gateway.app[ENFORCEMENT]
    ban = await enforcement.set_ban(EMSP, "DEEMS0001", until=clock() + timedelta(days=3),
                                    reason="card reported stolen", by="ops:test")
    gateway = world.gateway.url
    for peer in (world.emsp, scene.other):
        for method, path in (("GET", "/admin/bans"), ("DELETE", "/admin/bans"),
                             ("GET", "/admin/api/bans"), ("POST", "/admin/api/bans/lift"),
                             ("POST", "/admin/reload"),
                             ("GET", f"/ocpi/{peer.ocpi_version}/bans"),
                             ("DELETE", f"/ocpi/{peer.ocpi_version}/bans/DE/EMS/DEEMS0001")):
            credential = base64.b64encode(str(peer.token_for_gateway).encode()).decode()
            async with world.http.request(method, gateway + path, json={}, headers={
                    "Authorization": f"Token {credential}"}) as resp:
                text = await resp.text()
            assert resp.status in (401, 403, 404, 405), (method, path, resp.status, text)
            assert "DEEMS0001" not in text
    # Pushing the token again (valid, whitelisted) changes nothing.
    status, _, _ = await world.emsp.call(
        "PUT", f"{gateway}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0001", json=token())
    assert status == 200
    assert await enforcement.ban_of(EMSP, "DEEMS0001") == ban
    # Many refused requests at once neither lift nor change it.
    results = await asyncio.gather(*(scene.reserve(f"M{i}") for i in range(5)))
    assert [r["result"] for r in results] == ["REJECTED"] * 5
    assert all("card reported stolen" in r["message"][0]["text"] for r in results)
    assert await enforcement.ban_of(EMSP, "DEEMS0001") == ban
    assert world.all_received("ReserveNow") == []


async def test_an_emsp_cannot_plant_no_shows_on_another_emsps_token(scene: Scene) -> None:
    world = scene.world
    _, body = scene.body(scene.other, "X1", evse_uid="E1")  # DE-EMS's token
    status, reply, _ = await scene.other.call(
        "POST", f"{world.gateway.url}/ocpi/2.3.0/commands/RESERVE_NOW", json=body)
    assert status == 200 and reply["data"]["result"] == "REJECTED"
    assert "belongs to DE-EMS" in reply["data"]["message"][0]["text"]
    assert world.all_received("ReserveNow") == []
    standing = await world.gateway.app[ENFORCEMENT].standing(EMSP, "DEEMS0001", LOCATION)
    assert standing.no_shows == () and standing.counts.ended == 0
