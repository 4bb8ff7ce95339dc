"""RESERVE_NOW keeps answering at once while bookings wait on the waiting list at its site
(the issue: "OCPI commands have no waiting state"). Real parts: the gateway app on loopback
on its clock (frozen unless the test moves it), a real OCPP 1.6 charger (E1, E2: Type 2) and
a real 2.0.1 one (E3: CCS), a 2.3.0 eMSP that books, a 2.2.1 and a 2.3.0 eMSP that send
RESERVE_NOW (each answer validated against the official OpenAPI by the peers).

Two Type 2 bookings an hour ahead hold both Type 2 EVSEs from their binding time and a third
waits. A RESERVE_NOW is answered synchronously ACCEPTED or REJECTED (never a pending state),
and its CommandResult follows without anything else happening: REJECTED, with no ReserveNow
at a charger, when it would hold a Type 2 EVSE into the bookings' window; ACCEPTED on the
CCS EVSE. Once the waiting booking is granted its capacity is not given away either; and
capacity freed by an operator's edit of the policy goes to the waiting booking first, not
to a RESERVE_NOW that arrives before anything else looked at the site."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.bookings.extension import BOOKINGS_PUBLISHER
from tests.bookings.test_booking_day import TERMS, z
from tests.bookings.test_bookings_module import MODULES_230, register
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
)
from tests.peers.emsp import EmspPeer

WAITING_TERMS = {**TERMS, "waitlist_minutes": 30}
T2 = "IEC_62196_T2"
RESPONSES = {"ACCEPTED", "REJECTED"}
"""What a CommandResponse to RESERVE_NOW may say here: decided, never waiting."""


@dataclass
class Site:
    world: World
    clock: MovableClock
    booker: EmspPeer
    emsp_230: EmspPeer
    t0: datetime
    tmp_path: Path

    async def book(self, request_id: str, start: float = 60, minutes: float = 30,
                   **changes: Any) -> dict[str, Any]:
        p = self.booker
        body = {"country_code": p.country_code, "party_id": p.party_id,
                "request_id": request_id, "location_id": LOCATION,
                "booking_location_id": LOCATION,
                "period": {"start_date_time": z(self.t0 + timedelta(minutes=start)),
                           "end_date_time": z(self.t0 + timedelta(minutes=start + minutes))},
                "authorization_reference": f"AUTH-{request_id}",
                "tokens": [{"country_code": p.country_code, "party_id": p.party_id,
                            "uid": f"TOK-{request_id}", "type": "RFID",
                            "contract_id": f"C-{request_id}"}],
                "booking_option": {"connector_types": [T2]}, **changes}
        status, answer, _ = await p.call("POST", f"{self.world.gateway.url}/ocpi/2.3.0/bookings",
                                         json=body)
        assert status == 200, answer
        return dict(answer["data"])

    async def state(self, booking: dict[str, Any]) -> str | None:
        await self.world.gateway.app[BOOKINGS_PUBLISHER].flush()
        pushed = self.booker.bookings.get(f"NL/EXA/{booking['id']}") or {}
        return pushed.get("reservation_status")

    async def reserve(self, peer: EmspPeer, name: str, minutes: float, *,
                      evse_uid: str | None = None) -> tuple[str, str]:
        """A RESERVE_NOW from ``peer`` until ``minutes`` from now: (what its CommandResponse
        said, what its CommandResult said)."""
        body: dict[str, Any] = {
            "response_url": peer.response_url(name),
            "token": {"country_code": peer.country_code, "party_id": peer.party_id,
                      "uid": f"RN-{name}", "type": "RFID", "contract_id": f"C-RN-{name}",
                      "issuer": "Test eMSP", "valid": True, "whitelist": "ALWAYS",
                      "last_updated": "2026-11-23T10:00:00Z"},
            "expiry_date": self.clock.in_minutes(minutes), "reservation_id": name,
            "location_id": LOCATION}
        if evse_uid is not None:
            body["evse_uid"] = evse_uid
        status, reply, _ = await peer.call(
            "POST", f"{self.world.gateway.url}/ocpi/{peer.ocpi_version}/commands/RESERVE_NOW",
            json=body)
        assert status == 200, (status, reply)
        response = reply["data"]["result"]
        assert response in RESPONSES, reply
        if response != "ACCEPTED":
            return response, ""
        # The clock stands still and nothing else happens: the result cannot be waiting for
        # capacity to free.
        got = await eventually(lambda: peer.command_results.get(name))
        assert got, f"no CommandResult for {name}"
        return response, str(got[0]["result"])

    def set_walk_in_reserve(self, reserve: int) -> None:
        """The operator edits policy.yaml (picked up at its next read, by mtime)."""
        path = self.tmp_path / "policy_file.yaml"
        before = os.stat(path).st_mtime_ns
        path.write_text(yaml.safe_dump(policy_doc(bookings=WAITING_TERMS,
                                                  walk_in_reserve=reserve)), encoding="utf-8")
        # A coarse file system may keep the mtime within one tick: make the edit visible.
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


async def open_site(tmp_path: Path, *, walk_in_reserve: int = 0) -> Site:
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    world = await open_world(tmp_path, policy=policy_doc(bookings=WAITING_TERMS,
                                                         walk_in_reserve=walk_in_reserve),
                             clock=clock)
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    emsp_230 = await register(world.gateway, EmspPeer(
        party_id="RN3", versions=("2.3.0",), ocpi_version="2.3.0"))
    await world.all_available()
    # Two Type 2 EVSEs for two bookings within the hour is a site running short: the binder
    # would bind them early whenever its loop happens to run (bookings/shortage.py), which on
    # a loaded machine was before the RESERVE_NOWs. Here they bind at their binding time.
    binder = world.gateway.app[BOOKINGS].binder
    assert binder is not None
    binder.early_within = timedelta(0)
    return Site(world, clock, booker, emsp_230, clock.now, tmp_path)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    opened = await open_site(tmp_path)
    try:
        yield opened
    finally:
        await opened.booker.close()
        await opened.emsp_230.close()
        await close_world(opened.world)


def type_2_reserve_nows(world: World) -> list[dict[str, Any]]:
    return world.received(CP16, "ReserveNow")


async def test_reserve_now_answers_at_once_beside_a_waiting_booking(site: Site) -> None:
    world = site.world
    first, second = await site.book("B1"), await site.book("B2")
    assert (first["reservation_status"], second["reservation_status"]) == (
        "RESERVED", "RESERVED")
    waiting = await site.book("B3")
    assert waiting["reservation_status"] == "PENDING"  # on the waiting list

    # Both Type 2 EVSEs are promised from minute 50 (binding time): held to 55, refused.
    for peer, name, evse in ((world.emsp, "V221-E1", "E1"), (site.emsp_230, "V230-E2", "E2")):
        assert await site.reserve(peer, name, 55, evse_uid=evse) in (
            ("ACCEPTED", "REJECTED"), ("REJECTED", "")), name
    assert type_2_reserve_nows(world) == []
    # A Type 2 EVSE given back before the bookings (40 + the 5-minute turnover) is free; the
    # CCS EVSE is not booked, and a location-level one is held there: both ACCEPTED, at
    # once, as on a site with nobody waiting.
    assert await site.reserve(world.emsp, "V221-SHORT", 40, evse_uid="E1") == (
        "ACCEPTED", "ACCEPTED")
    assert await site.reserve(site.emsp_230, "V230-ANY", 55) == ("ACCEPTED", "ACCEPTED")
    assert len(type_2_reserve_nows(world)) == 1
    assert len(world.received(CP201, "ReserveNow")) == 1
    assert await site.state(waiting) == "PENDING"  # still waiting, not taken over

    # B1 cancelled: the waiting booking is granted its capacity, which stays its own.
    ended = await site.book("B1", canceled={"cancellation_reason": "NO_CANCELED",
                                            "who_canceled": "EMSP"})
    assert ended["reservation_status"] == "CANCELED"
    assert await eventually(lambda: _is(site.state(waiting), "RESERVED"))
    for peer, name in ((world.emsp, "V221-AFTER"), (site.emsp_230, "V230-AFTER")):
        assert await site.reserve(peer, name, 55, evse_uid="E2") in (
            ("ACCEPTED", "REJECTED"), ("REJECTED", "")), name
    assert len(type_2_reserve_nows(world)) == 1


async def test_capacity_an_operator_frees_goes_to_the_waiting_booking_first(
        tmp_path: Path) -> None:
    # Walk-in reserve 1: one of the two Type 2 EVSEs may be promised; the second booking waits.
    site = await open_site(tmp_path, walk_in_reserve=1)
    world = site.world
    try:
        assert (await site.book("B1"))["reservation_status"] == "RESERVED"
        waiting = await site.book("B2")
        assert waiting["reservation_status"] == "PENDING"
        # The operator lowers the reserve: the waiting booking now fits. The next thing at
        # the site is a RESERVE_NOW that would hold E2 into the bookings' window.
        site.set_walk_in_reserve(0)
        for peer, name in ((world.emsp, "V221"), (site.emsp_230, "V230")):
            assert await site.reserve(peer, name, 55, evse_uid="E2") in (
                ("ACCEPTED", "REJECTED"), ("REJECTED", "")), name
        assert type_2_reserve_nows(world) == []
        assert await eventually(lambda: _is(site.state(waiting), "RESERVED"))
    finally:
        await site.booker.close()
        await site.emsp_230.close()
        await close_world(world)


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)
