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


LOCATION = {"id": "LOC-1", "country_code": "NL", "party_id": "EXA",
            "last_updated": "2026-01-01T00:00:00.000Z",
            "evses": [{"uid": "E1", "status": "AVAILABLE",
                       "last_updated": "2026-01-01T00:00:00.000Z",
                       "connectors": [{"id": "1", "standard": "IEC_62196_T2",
                                       "last_updated": "2026-01-01T00:00:00.000Z"}]}]}


async def test_evse_and_connector_patches_change_the_stored_location(peer: EmspPeer) -> None:
    assert (await send(peer, "PUT", "NL/EXA/LOC-1", LOCATION))[0] == 200
    status, body = await send(peer, "PATCH", "NL/EXA/LOC-1/E1",
                              {"status": "CHARGING", "last_updated": "2026-01-02T00:00:00.000Z"})
    assert status == 200 and body["status_code"] == 1000
    stored = peer.locations["NL/EXA/LOC-1"]
    assert stored["evses"][0]["status"] == "CHARGING"
    assert stored["last_updated"] == "2026-01-02T00:00:00.000Z"
    await send(peer, "PATCH", "NL/EXA/LOC-1/E1/1",
               {"max_amperage": 16, "last_updated": "2026-01-03T00:00:00.000Z"})
    assert stored["evses"][0]["connectors"][0]["max_amperage"] == 16
    assert stored["evses"][0]["last_updated"] == stored["last_updated"] == (
        "2026-01-03T00:00:00.000Z")
    status, body = await send(peer, "GET", "NL/EXA/LOC-1/E1")
    assert status == 200 and body["data"]["status"] == "CHARGING"


async def test_an_evse_put_adds_it_to_the_location(peer: EmspPeer) -> None:
    await send(peer, "PUT", "NL/EXA/LOC-1", LOCATION)
    await send(peer, "PUT", "NL/EXA/LOC-1/E2", {"uid": "E2", "status": "AVAILABLE",
                                                 "connectors": []})
    assert [e["uid"] for e in peer.locations["NL/EXA/LOC-1"]["evses"]] == ["E1", "E2"]


@pytest.mark.parametrize("tail", ["NL/EXA/NOPE/E1", "NL/EXA/LOC-1/NOPE", "NL/EXA/LOC-1/E1/9"])
async def test_a_patch_of_an_unknown_object_is_refused(peer: EmspPeer, tail: str) -> None:
    await send(peer, "PUT", "NL/EXA/LOC-1", LOCATION)
    status, body = await send(peer, "PATCH", tail, {"status": "CHARGING"})
    assert status == 404 and body["status_code"] == 2001
    assert peer.locations["NL/EXA/LOC-1"]["evses"][0]["status"] == "AVAILABLE"
