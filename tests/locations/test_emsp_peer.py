"""The tests' eMSP peer receives Locations like a real receiver: EVSE and connector PATCHes
change the stored location, so the gateway's pushes never need a resync against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.peers.emsp import EmspPeer


@pytest.fixture
async def peer() -> AsyncIterator[EmspPeer]:
    emsp = EmspPeer()
    await emsp.start()
    yield emsp
    await emsp.close()


async def send(peer: EmspPeer, method: str, tail: str, body: Any = None) -> tuple[int, Any]:
    url = f"{peer.base_url}/emsp/2.2.1/locations/{tail}"
    status, parsed, _ = await peer.call(method, url, peer.token_a, json=body)
    return status, parsed


def _location() -> dict[str, Any]:
    """A valid OCPI Location as the gateway publishes it (the peer checks bodies against the
    OpenAPI files): LOC-00000 with EVSEs LOC-00000-1..4, each with connector "1"."""
    from ocpi_gateway.locations.published import (
        PublishedEvse,
        PublishedLocation,
        published_doc,
    )
    from ocpi_gateway.locations.sample import sample_locations
    from ocpi_gateway.reservation_policy.availability.base import EvseStatus

    stamp = "2026-01-01T00:00:00.000Z"
    [location] = sample_locations(1)
    return published_doc(PublishedLocation(location, [
        PublishedEvse(e, EvseStatus.AVAILABLE, stamp, stamp) for e in location.evses], stamp))


LOC = "NL/EXA/LOC-00000"
EVSE = LOC + "/LOC-00000-1"


async def test_evse_and_connector_patches_change_the_stored_location(peer: EmspPeer) -> None:
    assert (await send(peer, "PUT", LOC, _location()))[0] == 200
    status, body = await send(peer, "PATCH", EVSE,
                              {"status": "CHARGING", "last_updated": "2026-01-02T00:00:00.000Z"})
    assert status == 200 and body["status_code"] == 1000
    stored = peer.locations[LOC]
    assert stored["evses"][0]["status"] == "CHARGING"
    assert stored["last_updated"] == "2026-01-02T00:00:00.000Z"
    await send(peer, "PATCH", EVSE + "/1",
               {"max_amperage": 16, "last_updated": "2026-01-03T00:00:00.000Z"})
    assert stored["evses"][0]["connectors"][0]["max_amperage"] == 16
    assert stored["evses"][0]["last_updated"] == stored["last_updated"] == (
        "2026-01-03T00:00:00.000Z")
    status, body = await send(peer, "GET", EVSE)
    assert status == 200 and body["data"]["status"] == "CHARGING"


async def test_an_evse_put_adds_it_to_the_location(peer: EmspPeer) -> None:
    await send(peer, "PUT", LOC, _location())
    location = _location()
    extra = {**location["evses"][0], "uid": "LOC-00000-9", "evse_id": "NL*EXA*E00000*9"}
    assert (await send(peer, "PUT", LOC + "/LOC-00000-9", extra))[0] == 200
    assert [e["uid"] for e in peer.locations[LOC]["evses"]] == [
        "LOC-00000-1", "LOC-00000-2", "LOC-00000-3", "LOC-00000-4", "LOC-00000-9"]


@pytest.mark.parametrize("tail", ["NL/EXA/NOPE/LOC-00000-1", LOC + "/NOPE", EVSE + "/9"])
async def test_a_patch_of_an_unknown_object_is_refused(peer: EmspPeer, tail: str) -> None:
    await send(peer, "PUT", LOC, _location())
    status, body = await send(peer, "PATCH", tail, {
        "status": "CHARGING", "last_updated": "2026-01-02T00:00:00.000Z"})
    assert status == 404 and body["status_code"] == 2001
    assert peer.locations[LOC]["evses"][0]["status"] == "AVAILABLE"


async def test_patches_follow_the_evses_where_a_put_moved_them(peer: EmspPeer) -> None:
    # The peer finds an EVSE through an index of positions: a location PUT with its EVSEs in
    # another order, or an EVSE PUT replacing one, must not send a PATCH to the wrong EVSE.
    location = _location()
    assert (await send(peer, "PUT", LOC, location))[0] == 200
    await send(peer, "PATCH", LOC + "/LOC-00000-3", {
        "status": "CHARGING", "last_updated": "2026-01-02T00:00:00.000Z"})
    moved = _location()
    moved["evses"].reverse()
    assert (await send(peer, "PUT", LOC, moved))[0] == 200
    await send(peer, "PATCH", LOC + "/LOC-00000-1", {
        "status": "BLOCKED", "last_updated": "2026-01-03T00:00:00.000Z"})
    replaced = {**moved["evses"][1], "status": "OUTOFORDER"}  # LOC-00000-3
    assert (await send(peer, "PUT", LOC + "/LOC-00000-3", replaced))[0] == 200
    await send(peer, "PATCH", LOC + "/LOC-00000-3/1", {
        "max_amperage": 8, "last_updated": "2026-01-04T00:00:00.000Z"})
    stored = {e["uid"]: e for e in peer.locations[LOC]["evses"]}
    assert [e["uid"] for e in peer.locations[LOC]["evses"]] == [
        "LOC-00000-4", "LOC-00000-3", "LOC-00000-2", "LOC-00000-1"]
    assert {uid: e["status"] for uid, e in stored.items()} == {
        "LOC-00000-1": "BLOCKED", "LOC-00000-2": "AVAILABLE", "LOC-00000-3": "OUTOFORDER",
        "LOC-00000-4": "AVAILABLE"}
    assert stored["LOC-00000-3"]["connectors"][0]["max_amperage"] == 8
    assert stored["LOC-00000-3"]["last_updated"] == "2026-01-04T00:00:00.000Z"
