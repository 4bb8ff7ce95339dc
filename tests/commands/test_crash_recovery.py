"""A crash leaves no live leftovers: a gateway process killed with SIGKILL while RESERVE_NOW
commands wait for the chargers' answers, then restarted. Every command gets exactly one result;
the reservations that never became active end FAILED, free their EVSE and the eMSP's cap, and
the ReserveNow calls the chargers accepted just before the crash are cancelled there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.store.sqlite import SqliteStore
from tests.commands.support import (
    CP16,
    CP201,
    LOCATION,
    eventually,
    in_minutes,
    policy_doc,
    token,
    write_configs,
)
from tests.ocpp.ocpp_test_support import Behaviour, ChargerFactory, Connected
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import ROLE_NL
from tests.peers.gateway_process import GatewayProcess

CAP = 2


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[GatewayProcess, EmspPeer,
                                                       ChargerFactory]]:
    configs = write_configs(tmp_path, policy_doc(max_concurrent_per_emsp=CAP))
    gateway = GatewayProcess(
        tmp_path, cpo_roles=[ROLE_NL], instance_id="gw-crash",
        command_timeouts={"charger_seconds": 20, "ocpi_result_seconds": 30}, **configs)
    emsp = EmspPeer()
    http = aiohttp.ClientSession()
    factory = ChargerFactory(http)
    try:
        await gateway.start()
        await emsp.start()
        status, body = await emsp.register_with(gateway.versions_url,
                                                await gateway.invite("crash emsp",
                                                                     "EMSP:DE-EMS"))
        assert status == 200 and body["status_code"] == 1000, body
        yield gateway, emsp, factory
    finally:
        await factory.close()
        await http.close()
        await emsp.close()
        await gateway.stop()


async def connect(gateway: GatewayProcess, factory: ChargerFactory, cp: str,
                  behaviour: Behaviour) -> Connected:
    """Connect, boot and report every EVSE of the charger Available."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if cp == CP16:
        charger = await factory.connect(gateway.ws_url, cp, "1.6", behaviour)
        await charger.charger.call(call16.BootNotification(
            charge_point_model="Test16", charge_point_vendor="Tests"))
        for connector in (1, 2):
            await charger.charger.call(call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Available"))
    else:
        charger = await factory.connect(gateway.ws_url, cp, "2.0.1", behaviour)
        await charger.charger.call(call201.BootNotification(
            charging_station={"model": "Test201", "vendor_name": "Tests"}, reason="PowerUp"))
        for evse in (1, 2):
            await charger.charger.call(call201.StatusNotification(
                timestamp=now, connector_status="Available", evse_id=evse, connector_id=1))
    return charger


async def reserve(gateway: GatewayProcess, emsp: EmspPeer, name: str, evse_uid: str
                  ) -> dict[str, Any]:
    status, reply, _ = await emsp.call(
        "POST", f"{gateway.url}/ocpi/2.2.1/commands/RESERVE_NOW", json={
            "response_url": emsp.response_url(name), "token": token(),
            "expiry_date": in_minutes(30), "reservation_id": name.upper(),
            "location_id": LOCATION, "evse_uid": evse_uid})
    assert status == 200, reply
    return dict(reply["data"])


def received(charger: Connected, action: str) -> list[dict[str, Any]]:
    return [p for a, p in charger.behaviour.received if a == action]


@pytest.mark.timeout(240)  # two gateway processes start: slow on a loaded machine, not stuck
async def test_sigkill_with_reserve_now_in_flight_leaves_nothing_live(
        parts: tuple[GatewayProcess, EmspPeer, ChargerFactory], tmp_path: Path) -> None:
    gateway, emsp, factory = parts
    # The chargers accept (they hold the reservation) but their answers never arrive.
    hang = asyncio.Event()
    before = {cp: await connect(gateway, factory, cp, Behaviour(hang=hang))
              for cp in (CP16, CP201)}
    for name, evse_uid in (("r1", "E1"), ("r2", "E3")):
        assert (await reserve(gateway, emsp, name, evse_uid))["result"] == "ACCEPTED"
    assert await eventually(lambda: all(received(c, "ReserveNow") for c in before.values()),
                            within=20)
    held = {cp: received(c, "ReserveNow")[0]["reservation_id" if cp == CP16 else "id"]
            for cp, c in before.items()}

    await gateway.kill()
    for charger in before.values():
        await charger.disconnect()
    await gateway.start()
    after = {cp: await connect(gateway, factory, cp, Behaviour()) for cp in (CP16, CP201)}

    # Each command got its result, TIMEOUT: neither reservation was known to be accepted.
    results = await eventually(lambda: all(emsp.command_results.get(n) for n in ("r1", "r2")),
                               within=30)
    assert results, emsp.command_results
    assert [r["result"] for n in ("r1", "r2") for r in emsp.command_results[n]] == [
        "TIMEOUT", "TIMEOUT"]
    # The chargers were told to drop what they accepted just before the crash.
    assert await eventually(lambda: all(received(c, "CancelReservation")
                                        for c in after.values()), within=30)
    for cp, charger in after.items():
        assert [p["reservation_id"] for p in received(charger, "CancelReservation")] == [
            held[cp]]
    # The records are FAILED with nothing left to settle ...
    store = await SqliteStore.open(str(tmp_path / "gateway.db"))
    try:
        async def settled() -> bool:
            docs = await store.find(RESERVATIONS)
            return sorted((d["reservation_id"], d["state"], d["unsettled"]) for d in docs) == [
                ("R1", "FAILED", False), ("R2", "FAILED", False)]
        assert await eventually(settled, within=20)
    finally:
        await store.close()
    # ... so the eMSP's cap is whole again and the EVSEs can be reserved anew.
    for name, evse_uid in (("r3", "E1"), ("r4", "E3")):
        assert (await reserve(gateway, emsp, name, evse_uid))["result"] == "ACCEPTED"
    fresh = await eventually(lambda: all(emsp.command_results.get(n) for n in ("r3", "r4")),
                             within=30)
    assert fresh
    assert [emsp.command_results[n][0]["result"] for n in ("r3", "r4")] == [
        "ACCEPTED", "ACCEPTED"]
    # Exactly one result per command.
    assert {n: len(v) for n, v in emsp.command_results.items()} == {
        "r1": 1, "r2": 1, "r3": 1, "r4": 1}
    hang.set()
