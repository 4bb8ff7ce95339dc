"""What the admin API shows, on the instance that does not hold the chargers: two gateway
instances share Redis and the store, real OCPP 1.6 and 2.0.1 chargers connect to the first, an
eMSP reserves over OCPI there, and an operator reads everything from the second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.config import ListenSettings
from tests.admin.support import AdminClient, write_operators
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    World,
    close_world,
    eventually,
    open_world,
)
from tests.conftest import free_port
from tests.peers.gateway import RunningGateway, start_gateway


@dataclass
class Pair:
    world: World
    other: RunningGateway
    viewer: AdminClient


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str) -> AsyncIterator[Pair]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    world = await open_world(tmp_path, operators_file=operators, redis_url=redis_url,
                             ocpp={"presence_ttl_seconds": 1.5})
    port = free_port()
    other = await start_gateway(world.gateway.settings.model_copy(update={
        "listen": ListenSettings(host="127.0.0.1", port=port),
        "public_url": f"http://127.0.0.1:{port}", "instance_id": "gw-other"}))
    viewer = AdminClient(other.url)
    assert (await viewer.login("victor")).status == 200
    yield Pair(world, other, viewer)
    await viewer.close()
    await other.stop()
    await close_world(world)


async def _reserve(world: World, reservation_id: str, evse_uid: str) -> dict[str, Any]:
    reply = await world.command("RESERVE_NOW", world.reserve_body(
        reservation_id, reservation_id, evse_uid=evse_uid))
    assert reply["data"]["result"] == "ACCEPTED", reply
    result = await world.result(reservation_id)
    assert result["result"] == "ACCEPTED", result
    return result


async def test_the_other_instance_shows_live_statuses_chargers_and_reservations(
        pair: Pair) -> None:
    world, viewer = pair.world, pair.viewer
    await world.all_available()
    await _reserve(world, "R-16", "E1")
    await _reserve(world, "R-201", "E3")

    async def site_statuses() -> dict[str, str]:
        answer = await viewer.call("GET", f"/admin/api/sites/{LOCATION}")
        assert answer.status == 200
        return {e["uid"]: e["status"] for e in answer.body["evses"]}

    assert await eventually(lambda: _equals(site_statuses(), {
        "E1": "RESERVED", "E2": "AVAILABLE", "E3": "RESERVED"}))
    site = (await viewer.call("GET", f"/admin/api/sites/{LOCATION}")).body
    held = {e["uid"]: e["held_by"] for e in site["evses"]}
    assert held == {"E1": "DE-EMS/R-16", "E2": None, "E3": "DE-EMS/R-201"}
    assert site["counts"] == {"RESERVED": 2, "AVAILABLE": 1}
    listing = await viewer.call("GET", "/admin/api/sites?limit=1")
    assert listing.body["total"] == 2 and len(listing.body["items"]) == 1

    async def chargers() -> dict[str, Any]:
        answer = await viewer.call("GET", "/admin/api/chargers")
        return {c["id"]: c for c in answer.body["items"]}

    # The holder writes its chargers' entries at each presence refresh (0.5 s here).
    seen = await eventually(lambda: _when(chargers(), lambda cs: all(
        c["online"] and c["vendor"] == "Tests" for c in cs.values())))
    assert seen[CP16]["ocpp_version"] == "1.6" and seen[CP201]["ocpp_version"] == "2.0.1"
    assert {c["instance_id"] for c in seen.values()} == {"gw-test"}
    assert seen[CP16]["model"] == "Test16" and seen[CP16]["last_message_at"]
    assert [e["evse_uid"] for e in seen[CP16]["evses"]] == ["E1", "E2"]
    one = await viewer.call("GET", f"/admin/api/chargers/{CP201}")
    assert one.status == 200 and one.body["online"] is True
    assert (await viewer.call("GET", "/admin/api/chargers/NOPE")).status == 404
    # A charger that leaves is offline at once for the other instance too (its presence goes),
    # and keeps its last known connection.
    await world.chargers[CP16].disconnect()
    gone = await eventually(lambda: _when(chargers(), lambda cs: not cs[CP16]["online"]))
    assert gone[CP16]["ocpp_version"] == "1.6" and gone[CP16]["last_message_at"]
    offline = await viewer.call("GET", "/admin/api/chargers?online=false")
    assert [c["id"] for c in offline.body["items"]] == [CP16]


async def test_reservations_filter_page_and_show_their_history(pair: Pair) -> None:
    world, viewer = pair.world, pair.viewer
    await world.all_available()
    await _reserve(world, "R-A", "E1")
    await _reserve(world, "R-B", "E2")
    await _reserve(world, "R-C", "E3")
    cancel = await world.command("CANCEL_RESERVATION", {
        "response_url": world.emsp.response_url("cancel-b"), "reservation_id": "R-B"})
    assert cancel["data"]["result"] == "ACCEPTED"
    assert (await world.result("cancel-b"))["result"] == "ACCEPTED"

    everything = await viewer.call("GET", "/admin/api/reservations")
    assert [r["reservation_id"] for r in everything.body["items"]] == ["R-C", "R-B", "R-A"]
    assert everything.body["next_cursor"] is None
    live = await viewer.call("GET", "/admin/api/reservations?state=live")
    assert [r["reservation_id"] for r in live.body["items"]] == ["R-C", "R-A"]
    cancelled = await viewer.call("GET", "/admin/api/reservations?state=CANCELLED&emsp=de-ems")
    assert [r["key"] for r in cancelled.body["items"]] == ["DE-EMS/R-B"]
    assert (await viewer.call("GET", "/admin/api/reservations?emsp=NL-XXX")).body["items"] == []
    by_token = await viewer.call("GET", "/admin/api/reservations?token=DEEMS0001&site=" + LOCATION)
    assert len(by_token.body["items"]) == 3
    created = everything.body["items"][1]["created_at"]
    since = await viewer.call("GET", f"/admin/api/reservations?from={_q(created)}")
    assert [r["reservation_id"] for r in since.body["items"]] == ["R-C", "R-B"]
    before = await viewer.call("GET", f"/admin/api/reservations?to={_q(created)}")
    assert [r["reservation_id"] for r in before.body["items"]] == ["R-A"]
    # Pages: two, then one, nothing repeated or lost.
    first = await viewer.call("GET", "/admin/api/reservations?limit=2")
    assert len(first.body["items"]) == 2 and first.body["next_cursor"]
    second = await viewer.call("GET", "/admin/api/reservations?limit=2&cursor="
                               + first.body["next_cursor"])
    assert [r["reservation_id"] for r in first.body["items"] + second.body["items"]] == [
        "R-C", "R-B", "R-A"]
    assert second.body["next_cursor"] is None
    bad = await viewer.call("GET", "/admin/api/reservations?cursor=garbage")
    assert bad.status == 400
    wrong_state = await viewer.call("GET", "/admin/api/reservations?state=SLEEPING")
    assert wrong_state.status == 400 and "SLEEPING" in str(wrong_state.body["details"])

    shown = await viewer.call("GET", "/admin/api/reservations/DE-EMS/r-b")
    assert shown.status == 200 and shown.body["state"] == "CANCELLED"
    steps = [(h["from_state"], h["to"]) for h in shown.body["history"]]
    assert steps[0] == (None, "PENDING") and steps[-1] == ("ACTIVE", "CANCELLED")
    assert "cancelled" in shown.body["history"][-1]["reason"]
    assert (await viewer.call("GET", "/admin/api/reservations/DE-EMS/NOPE")).status == 404

    commands = await viewer.call("GET", "/admin/api/commands?command=RESERVE_NOW")
    assert len(commands.body["items"]) == 3
    assert {c["result"] for c in commands.body["items"]} == {"ACCEPTED"}
    partners = await viewer.call("GET", "/admin/api/partners")
    [emsp] = partners.body["items"]
    assert emsp["state"] == "registered" and {r["party"] for r in emsp["roles"]} == {"DE-EMS"}


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _when(value: Any, test: Any) -> Any:
    got = await value
    return got if test(got) else None


def _q(moment: str) -> str:
    return moment.replace("+", "%2B")
