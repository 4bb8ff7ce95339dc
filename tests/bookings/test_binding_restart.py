"""Restart before binding: a real gateway process on a clock the test moves
(``tests.peers.clocked_serve``) accepts a booking of a 2.3.0 eMSP two hours ahead and
is SIGKILLed before its binding time (start - activation lead), with nothing sent to the
2.0.1 charger. A new process on the same store and clock comes up; the clock reaches the
binding time: the booking is bound exactly once, one ReserveNow at the charger (until start +
no-show timeout) and one Booking at the eMSP carrying the bound EVSE, and further runs of the
binder send nothing more. (Restart during binding: test_binding_crash.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ocpi_gateway.reservation_policy.bookings.binder import EARLY_WITHIN
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.store.sqlite import SqliteStore
from tests.bookings.test_binding_crash import TERMS, _later, connect, last_bind_run, received
from tests.commands.support import LOCATION, eventually, policy_doc, write_configs
from tests.ocpp.ocpp_test_support import Behaviour, ChargerFactory, Connected
from tests.peers.clocked_serve import FileClock
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import ROLE_NL
from tests.peers.gateway_process import GatewayProcess

STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Parts:
    gateway: GatewayProcess
    emsp: EmspPeer
    factory: ChargerFactory
    clock_file: Path
    t0: datetime
    db: Path


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    clock_file = tmp_path / "clock.txt"
    FileClock.set(clock_file, t0)
    configs = write_configs(tmp_path, policy_doc(bookings=TERMS))
    gateway = GatewayProcess(
        tmp_path, clock_file=clock_file, cpo_roles=[ROLE_NL], instance_id="gw-restart",
        command_timeouts={"charger_seconds": 5, "ocpi_result_seconds": 30}, **configs)
    emsp = EmspPeer(party_id="EMS", country_code="DE",
                    modules=("credentials", "locations", "bookings"), versions=("2.3.0",),
                    ocpi_version="2.3.0")
    factory = ChargerFactory(aiohttp.ClientSession())
    try:
        await gateway.start()
        await emsp.start()
        status, body = await emsp.register_with(
            gateway.versions_url, await gateway.invite("booking emsp", "EMSP:DE-EMS"))
        assert status == 200 and body["status_code"] == 1000, body
        yield Parts(gateway, emsp, factory, clock_file, t0, tmp_path / "gateway.db")
    finally:
        await factory.close()
        await factory.http.close()
        await emsp.close()
        await gateway.stop()


def booking_request(start: datetime) -> dict[str, Any]:
    return {"country_code": "DE", "party_id": "EMS", "request_id": "BOOK-R",
            "location_id": LOCATION, "booking_location_id": LOCATION,
            "period": {"start_date_time": start.strftime(STAMP),
                       "end_date_time": (start + timedelta(minutes=30)).strftime(STAMP)},
            "authorization_reference": "AUTH-R",
            "tokens": [{"country_code": "DE", "party_id": "EMS", "uid": "DEEMS0002",
                        "type": "RFID", "contract_id": "DE-EMS-C00000002-X"}],
            "booking_option": {"connector_types": ["IEC_62196_T2_COMBO"]}}


async def stored_booking(db: Path) -> dict[str, Any]:
    store = await SqliteStore.open(str(db))
    try:
        [doc] = await store.find(BOOKINGS)
        return doc
    finally:
        await store.close()


async def binder_runs(gateway: GatewayProcess, count: int) -> None:
    """Wait until the binder ran ``count`` more times (the bookings-bind loop's gauge)."""
    seen = [await last_bind_run(gateway)]
    while len(seen) <= count:
        run = await eventually(lambda: _later(gateway, seen[-1]), within=60)
        assert run, "the binder stopped running"
        seen.append(run)


def bound_pushes(emsp: EmspPeer, booking_id: str) -> list[dict[str, Any]]:
    """The Booking pushes that carried an EVSE."""
    return [r.body for r in emsp.received
            if r.path.endswith(f"/bookings/NL/EXA/{booking_id}") and isinstance(r.body, dict)
            and (r.body.get("booking_option") or {}).get("evse_uid") not in (None, "#NA")]


@pytest.mark.timeout(240)  # two gateway processes start: slow on a loaded machine, not stuck
async def test_sigkill_before_binding_binds_once_after_restart(parts: Parts) -> None:
    gateway, emsp = parts.gateway, parts.emsp
    before: Connected = await connect(gateway, parts.factory, Behaviour())
    # Further ahead than the binder looks for bookings to bind early at a site running short
    # (this one has a single CCS EVSE): nothing may bind it before its binding time.
    start = parts.t0 + EARLY_WITHIN + timedelta(minutes=60)
    status, answer, _ = await emsp.call("POST", f"{gateway.url}/ocpi/2.3.0/bookings",
                                        json=booking_request(start))
    assert status == 200 and answer["data"]["reservation_status"] == "RESERVED", answer
    booking_id = answer["data"]["id"]
    # The binder looked at it (twice, after the POST) and left it for its binding time.
    await binder_runs(gateway, 2)
    assert received(before, "ReserveNow") == []
    assert not (await stored_booking(parts.db)).get("evse_uid")

    await gateway.kill()
    await before.disconnect()
    await gateway.start()
    after = await connect(gateway, parts.factory, Behaviour())
    await binder_runs(gateway, 1)
    assert received(after, "ReserveNow") == []  # still before its binding time

    FileClock.set(parts.clock_file, start - timedelta(minutes=TERMS["activation_lead_minutes"]))
    assert await eventually(lambda: received(after, "ReserveNow"), within=90)
    # Two more runs of the binder after the binding: nothing more is sent.
    await binder_runs(gateway, 2)
    [sent] = received(after, "ReserveNow")
    assert received(before, "ReserveNow") == []
    assert sent["evse_id"] == 1  # E3
    noshow = start + timedelta(minutes=TERMS["noshow_timeout_minutes"])
    assert sent["expiry_date_time"].startswith(noshow.strftime(STAMP)[:16])
    doc = await stored_booking(parts.db)
    assert (doc["state"], doc["evse_uid"], doc["ocpp_reservation_id"]) == (
        "RESERVED", "E3", sent["id"])
    assert received(after, "CancelReservation") == []

    assert await eventually(lambda: bound_pushes(emsp, booking_id), within=60)
    [pushed] = bound_pushes(emsp, booking_id)
    assert pushed["booking_option"]["evse_uid"] == "E3"
    assert emsp.bookings[f"NL/EXA/{booking_id}"]["reservation_status"] == "RESERVED"
