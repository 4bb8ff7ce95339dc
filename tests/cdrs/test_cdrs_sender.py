"""GET {cdrs} and what a CDR is once made: paginated and filtered on last_updated (its making),
each eMSP seeing only its own (not with another's routing headers either); a CDR never
changes — a tariff changed after it leaves it as it was, and it is POSTed once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml

from ocpi_gateway.locations.extension import LOCATIONS
from tests.cdrs.support import listed
from tests.commands.support import World, eventually, token
from tests.peers.emsp import EmspPeer
from tests.sessions.support import EMSP_MODULES, Rig, event201, start16, stop16, tariffs_doc

AS_VICTIM = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
             "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"}


async def push_token(world: World) -> None:
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0001", json=token())
    assert body["status_code"] == 1000


async def three_cdrs(rig: Rig) -> list[str]:
    """Three walk-in sessions ended ten minutes apart; the CDRs' last_updated."""
    world, clock = rig.world, rig.clock
    await world.all_available()
    await push_token(world)
    stamps = []
    for connector in (1, 2):
        tx = await start16(world, clock, connector=connector)
        clock.advance(minutes=10)
        await stop16(world, clock, tx, 1000 * connector)
        stamps.append(clock.z())
        # Billed after the charger was answered: made (at this time) before the clock moves.
        assert await eventually(lambda: len(world.emsp.cdrs) == len(stamps))
    await event201(world, clock, "Started", "TX-3", seq_no=0, kwh=1.0)
    clock.advance(minutes=10)
    await event201(world, clock, "Ended", "TX-3", seq_no=1, kwh=4.0, id_tag=None)
    stamps.append(clock.z())
    assert await eventually(lambda: len(world.emsp.cdrs) == 3)
    return stamps


async def test_pages_and_dates(rig: Rig) -> None:
    world = rig.world
    stamps = await three_cdrs(rig)
    first, headers = await listed(world, "?limit=2")
    assert [c["last_updated"] for c in first] == stamps[:2]
    assert headers["X-Total-Count"] == "3"
    link = headers["Link"]
    _, body, headers = await world.emsp.call("GET", link[1:link.index(">")])
    assert [c["last_updated"] for c in body["data"]] == stamps[2:]
    assert "Link" not in headers
    between, _ = await listed(world, f"?date_from={stamps[1]}&date_to={stamps[2]}")
    assert [c["last_updated"] for c in between] == [stamps[1]]
    assert {c["id"] for c in first + body["data"]} == set(world.emsp.cdrs)


@pytest.fixture
async def attacker(rig: Rig) -> AsyncIterator[EmspPeer]:
    world = rig.world
    peer = EmspPeer(party_id="ATK", name="Attacker", versions=("2.2.1", "2.3.0"),
                    ocpi_version=world.emsp.ocpi_version, modules=EMSP_MODULES)
    await peer.start()
    _, token_a = await world.gateway.partners.invite("X", peer.grants())
    _, body = await peer.register_with(world.gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    yield peer
    await peer.close()


async def test_another_emsp_reads_none_of_the_cdrs(rig: Rig, attacker: EmspPeer) -> None:
    world = rig.world
    await three_cdrs(rig)
    for headers in (None, AS_VICTIM):
        status, body, _ = await attacker.call(
            "GET", f"{world.gateway.url}/ocpi/{attacker.ocpi_version}/cdrs", headers=headers)
        assert status < 500
        assert body.get("data") in (None, []), body
    assert attacker.cdrs == {}
    mine, _ = await listed(world)
    assert len(mine) == 3


async def test_a_cdr_stays_as_it_was_made(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    await push_token(world)
    tx = await start16(world, clock)
    clock.advance(minutes=30)
    await stop16(world, clock, tx, 10000)
    assert await eventually(lambda: len(world.emsp.cdrs) == 1)
    [before], _ = await listed(world)
    # The operator raises the price afterwards.
    doc = tariffs_doc()
    doc["tariffs"][0]["elements"][0]["price_components"][0]["price"] = "0.99"
    path = world.gateway.settings.tariffs_file
    assert path is not None
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    await world.gateway.app[LOCATIONS].reload_all()
    _, tariffs, _ = await world.emsp.call(
        "GET", f"{world.gateway.url}/ocpi/{world.emsp.ocpi_version}/tariffs")
    assert tariffs["data"][0]["elements"][0]["price_components"][0]["price"] == 0.99
    [after], _ = await listed(world)
    assert after == before
    assert after["tariffs"][0]["elements"][0]["price_components"][0]["price"] == 0.3
    posts = [r for r in world.emsp.received if r.method == "POST" and "/cdrs" in r.path]
    assert len(posts) == 1
