"""A booking waiting for capacity is granted when an EVSE comes back into service (issue 10's
waiting list: "granted when capacity frees (a cancellation, a no-show, an EVSE back in
service)"): real OCPP 1.6 and 2.0.1 chargers, an operator's ChangeAvailability through the
admin API, a 2.3.0 eMSP booking and receiving the pushes (validated against the OpenAPI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway.bookings.extension import BOOKINGS_PUBLISHER
from tests.admin.support import AdminClient, write_operators
from tests.admin.test_charger_availability import Setup, _connect_all, _supply
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import (
    CP16,
    LOCATION,
    close_world,
    eventually,
    open_world,
    policy_doc,
)
from tests.ocpp.operator_chargers import Ops
from tests.peers.emsp import EmspPeer

TERMS = {"enabled": True, "waitlist_minutes": 60, "min_duration_minutes": 30,
         "timeslot_increment_minutes": 15}


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    world = await open_world(tmp_path, operators_file=operators,
                             policy=policy_doc(bookings=TERMS))
    ops16, ops201 = Ops(), Ops()
    await _connect_all(world, ops16, ops201)
    alice = AdminClient(world.gateway.url)
    assert (await alice.use_token("alice")).status == 201
    yield Setup(world, alice, ops16, ops201)
    await alice.close()
    await close_world(world)


async def test_a_waiting_booking_is_granted_when_an_evse_is_back_in_service(
        setup: Setup) -> None:
    world, alice = setup.world, setup.alice
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        out = await alice.call("POST", f"/admin/api/chargers/{CP16}/change-availability",
                               json={"operational_status": "Inoperative", "evse_uid": "E1"})
        assert out.status == 200 and out.body["status"] == "Accepted", out.body
        assert await eventually(lambda: _only(world, {"E2", "E3"}))
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
            hours=3)

        async def book(request_id: str) -> dict[str, Any]:
            body = {"country_code": booker.country_code, "party_id": booker.party_id,
                    "request_id": request_id, "location_id": LOCATION,
                    "booking_location_id": LOCATION,
                    "period": {"start_date_time": z(start),
                               "end_date_time": z(start + timedelta(hours=1))},
                    "authorization_reference": f"AUTH-{request_id}",
                    "tokens": [{"country_code": booker.country_code,
                                "party_id": booker.party_id, "uid": f"TOK-{request_id}",
                                "type": "RFID", "contract_id": f"C-{request_id}"}],
                    "booking_option": {"connector_types": ["IEC_62196_T2"]}}
            status, answer, _ = await booker.call(
                "POST", f"{world.gateway.url}/ocpi/2.3.0/bookings", json=body)
            assert status == 200 and answer["status_code"] == 1000, answer
            return dict(answer)

        # One Type 2 EVSE left in service (E2): the first books it, the second waits.
        first = await book("B1")
        assert first["data"]["reservation_status"] == "RESERVED"
        second = await book("B2")
        assert second["data"]["reservation_status"] == "PENDING", second
        assert second["status_message"].startswith("waiting until ")
        tail = f"NL/EXA/{second['data']['id']}"

        back = await alice.call("POST", f"/admin/api/chargers/{CP16}/change-availability",
                                json={"operational_status": "Operative", "evse_uid": "E1"})
        assert back.status == 200 and back.body["status"] == "Accepted", back.body
        publisher = world.gateway.app[BOOKINGS_PUBLISHER]

        async def granted() -> bool:
            await publisher.flush()
            return booker.bookings.get(tail, {}).get("reservation_status") == "RESERVED"

        assert await eventually(granted)
        assert [r["request_status"] for r in booker.bookings[tail]["booking_requests"]] == [
            "ACCEPTED"]
        assert await _supply(world) == {"E1", "E2", "E3"}
    finally:
        await booker.close()


async def _only(world: Any, evses: set[str]) -> bool:
    return await _supply(world) == evses
