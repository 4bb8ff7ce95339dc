"""Restart during binding: a real gateway process (``ocpi-gateway serve``) binds a booking of a
2.3.0 eMSP, the 2.0.1 charger takes the ReserveNow but its answer never comes, and the process
is SIGKILLed. Restarted on the same store, it binds the booking once: the ReserveNow the
charger took before the crash is withdrawn there, one new ReserveNow is accepted, the booking
carries that reservation, and nothing more is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v201 import call as call201

from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.store.sqlite import SqliteStore
from tests.commands.support import CP201, LOCATION, eventually, policy_doc, write_configs
from tests.ocpp.ocpp_test_support import Behaviour, ChargerFactory, Connected
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import ROLE_NL
from tests.peers.gateway_process import GatewayProcess

TERMS = {"enabled": True, "timeslot_increment_minutes": 1, "min_duration_minutes": 1,
         "activation_lead_minutes": 10, "noshow_timeout_minutes": 15,
         "early_start_minutes": 5, "turnover_buffer_minutes": 0,
         "cancel_until_minutes": 0, "change_until_minutes": 0}


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[GatewayProcess, EmspPeer,
                                                       ChargerFactory]]:
    configs = write_configs(tmp_path, policy_doc(bookings=TERMS))
    gateway = GatewayProcess(
        tmp_path, cpo_roles=[ROLE_NL], instance_id="gw-bind",
        # Short waits: recovery settles an abandoned attempt 2 x 5 s + 10 s after its write.
        command_timeouts={"charger_seconds": 5, "ocpi_result_seconds": 30}, **configs)
    emsp = EmspPeer(party_id="EMS", country_code="DE",
                    modules=("credentials", "locations", "bookings"), versions=("2.3.0",),
                    ocpi_version="2.3.0")
    http = aiohttp.ClientSession()
    factory = ChargerFactory(http)
    try:
        await gateway.start()
        await emsp.start()
        status, body = await emsp.register_with(
            gateway.versions_url, await gateway.invite("booking emsp", "EMSP:DE-EMS"))
        assert status == 200 and body["status_code"] == 1000, body
        yield gateway, emsp, factory
    finally:
        await factory.close()
        await http.close()
        await emsp.close()
        await gateway.stop()


async def connect(gateway: GatewayProcess, factory: ChargerFactory,
                  behaviour: Behaviour) -> Connected:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    charger = await factory.connect(gateway.ws_url, CP201, "2.0.1", behaviour)
    await charger.charger.call(call201.BootNotification(
        charging_station={"model": "Test201", "vendor_name": "Tests"}, reason="PowerUp"))
    for evse in (1, 2):
        await charger.charger.call(call201.StatusNotification(
            timestamp=now, connector_status="Available", evse_id=evse, connector_id=1))
    return charger


async def last_bind_run(gateway: GatewayProcess) -> float:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    prefix = 'gateway_loop_last_run_timestamp_seconds{loop="bookings-bind"}'
    return next((float(line.split()[-1]) for line in text.splitlines()
                 if line.startswith(prefix)), 0.0)


async def _later(gateway: GatewayProcess, than: float) -> float | None:
    run = await last_bind_run(gateway)
    return run if run > than else None


def received(charger: Connected, action: str) -> list[dict[str, Any]]:
    return [p for a, p in charger.behaviour.received if a == action]


def booking_request() -> dict[str, Any]:
    # Due at once: its start is within the activation lead.
    start = (datetime.now(UTC) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {"country_code": "DE", "party_id": "EMS", "request_id": "BOOK-1",
            "location_id": LOCATION, "booking_location_id": LOCATION,
            "period": {"start_date_time": start.strftime(stamp),
                       "end_date_time": (start + timedelta(minutes=30)).strftime(stamp)},
            "authorization_reference": "AUTH-1",
            "tokens": [{"country_code": "DE", "party_id": "EMS", "uid": "DEEMS0001",
                        "type": "RFID", "contract_id": "DE-EMS-C00000001-X"}],
            "booking_option": {"connector_types": ["IEC_62196_T2_COMBO"]}}


@pytest.mark.timeout(240)  # two gateway processes start: slow on a loaded machine, not stuck
async def test_sigkill_during_binding_binds_once_after_restart(
        parts: tuple[GatewayProcess, EmspPeer, ChargerFactory], tmp_path: Path) -> None:
    gateway, emsp, factory = parts
    hang = asyncio.Event()
    before = await connect(gateway, factory, Behaviour(hang=hang))
    status, answer, _ = await emsp.call("POST", f"{gateway.url}/ocpi/2.3.0/bookings",
                                        json=booking_request())
    assert status == 200 and answer["data"]["reservation_status"] == "RESERVED", answer
    assert await eventually(lambda: received(before, "ReserveNow"), within=30)
    first = received(before, "ReserveNow")[0]["id"]

    await gateway.kill()
    await before.disconnect()
    await gateway.start()
    after = await connect(gateway, factory, Behaviour())

    assert await eventually(lambda: received(after, "ReserveNow"), within=90)
    store = await SqliteStore.open(str(tmp_path / "gateway.db"))
    try:
        async def bound() -> dict[str, Any] | None:
            [doc] = await store.find(BOOKINGS)
            return doc if doc.get("evse_uid") else None
        doc = await eventually(bound, within=30)
        assert doc is not None
        # Two more runs of the binder after the binding: nothing more is sent.
        seen = [await last_bind_run(gateway)]
        while len(seen) < 3:
            run = await eventually(lambda: _later(gateway, seen[-1]), within=60)
            assert run, "the binder stopped running"
            seen.append(run)
        [doc] = await store.find(BOOKINGS)
    finally:
        await store.close()
    [sent] = received(after, "ReserveNow")
    assert sent["id"] != first
    assert (doc["state"], doc["evse_uid"], doc["ocpp_reservation_id"]) == (
        "RESERVED", "E3", sent["id"])
    # The reservation the charger took before the crash was withdrawn there, once.
    assert [p["reservation_id"] for p in received(after, "CancelReservation")] == [first]
    hang.set()
