"""/metrics after a reservation flow through the whole gateway: an eMSP registers, a real OCPP
1.6 charger connects and reports its connector Available, the eMSP reserves and cancels; the
named series move by exactly what happened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from ocpp.v16 import call

from ocpi_gateway import keys
from ocpi_gateway.app import create_app
from tests.conftest import free_port
from tests.deployment.test_metrics import NAMED_SERIES, families, value
from tests.ocpp.ocpp_test_support import PASSWORD_HASH, ChargerFactory, Connected, eventually
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import gateway_settings

CP = "CP-FLOW-1"
LOCATION = "LOC-FLOW"
EVSE = "FLOW-01"

LOCATIONS_YAML = f"""
locations:
  - id: {LOCATION}
    country_code: NL
    party_id: EXA
    address: "Teststraat 1"
    city: "Utrecht"
    country: NLD
    coordinates: {{latitude: "52.09000", longitude: "5.12000"}}
    time_zone: Europe/Amsterdam
    evses:
      - uid: {EVSE}
        charge_point_id: {CP}
        capabilities: [RESERVABLE, REMOTE_START_STOP_CAPABLE]
        connectors:
          - {{id: "1", ocpp_connector_id: 1, standard: IEC_62196_T2, format: SOCKET,
             power_type: AC_3_PHASE, max_voltage: 230, max_amperage: 32}}
"""
CHARGERS_YAML = f"""
chargers:
  - {{id: {CP}, ocpp_version: "1.6", password_hash: "{PASSWORD_HASH}"}}
"""
POLICY_YAML = """
defaults:
  min_duration_minutes: 1
  max_duration_minutes: 60
  walk_in_reserve: 0
"""


@dataclass
class Flow:
    host: str
    app: web.Application
    emsp: EmspPeer
    charger: Connected

    @property
    def commands_url(self) -> str:
        return f"http://{self.host}/ocpi/2.2.1/commands"


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[Flow]:
    for name, text in (("locations.yaml", LOCATIONS_YAML), ("chargers.yaml", CHARGERS_YAML),
                       ("policy.yaml", POLICY_YAML)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    port = free_port()
    settings = gateway_settings(
        tmp_path, port=port, locations_file=tmp_path / "locations.yaml",
        chargers_file=tmp_path / "chargers.yaml", policy_file=tmp_path / "policy.yaml",
        command_timeouts={"charger_seconds": 3, "ocpi_result_seconds": 10})
    app = create_app(settings)  # every default extension, metrics included
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    emsp = EmspPeer()
    await emsp.start()
    async with aiohttp.ClientSession() as http:
        factory = ChargerFactory(http)
        try:
            _, token_a = await app[keys.PARTNERS].invite("Flow eMSP", emsp.grants())
            status, body = await emsp.register_with(f"http://{settings.listen.host}:{port}"
                                                    "/ocpi/versions", token_a)
            assert status == 200, body
            charger = await factory.connect(f"ws://127.0.0.1:{port}/ocpp", CP, "1.6")
            await charger.charger.call(call.BootNotification(
                charge_point_model="M", charge_point_vendor="V"))
            await charger.charger.call(call.StatusNotification(
                connector_id=1, error_code="NoError", status="Available"))
            yield Flow(f"127.0.0.1:{port}", app, emsp, charger)
        finally:
            await factory.close()
            await emsp.close()
            await runner.cleanup()


def _token() -> dict[str, Any]:
    return {"country_code": "DE", "party_id": "EMS", "uid": "04A1B2C3D4E5F6",
            "type": "RFID", "contract_id": "DE-EMS-C12345678-X", "issuer": "Test eMSP",
            "valid": True, "whitelist": "ALLOWED",
            "last_updated": datetime.now(UTC).isoformat()}


async def _result(emsp: EmspPeer, name: str) -> dict[str, Any]:
    async def arrived() -> bool:
        return bool(emsp.command_results.get(name))

    assert await eventually(arrived), f"no CommandResult at {name}"
    result: dict[str, Any] = emsp.command_results[name][0]
    return result


async def test_metrics_after_reserving_and_cancelling(flow: Flow) -> None:
    series = {
        "reserve_post": ("ocpi_requests_total", {"module": "commands", "method": "POST",
                                                 "status_code": "1000", "http_status": "200"}),
        "reserve_ok": ("ocpi_commands_total", {"command": "RESERVE_NOW", "result": "ACCEPTED"}),
        "cancel_ok": ("ocpi_commands_total", {"command": "CANCEL_RESERVATION",
                                              "result": "ACCEPTED"}),
        "accepted": ("ocpi_reservations_total", {"outcome": "accepted"}),
        "cancelled": ("ocpi_reservations_total", {"outcome": "cancelled"}),
        "round_trip": ("ocpp_command_roundtrip_seconds_count", {"command": "ReserveNow",
                                                                "outcome": "accepted"}),
        "cancel_trip": ("ocpp_command_roundtrip_seconds_count",
                        {"command": "CancelReservation", "outcome": "accepted"}),
        "out_reserve": ("ocpp_messages_total", {"version": "1.6", "action": "ReserveNow",
                                                "direction": "out"}),
        "in_status": ("ocpp_messages_total", {"version": "1.6", "action": "StatusNotification",
                                              "direction": "in"}),
        "delivered": ("ocpi_deliveries_succeeded_total", {}),
    }
    before = {key: value(name, **labels) for key, (name, labels) in series.items()}

    expiry = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    status, body, _ = await flow.emsp.call("POST", flow.commands_url + "/RESERVE_NOW", json={
        "response_url": flow.emsp.response_url("reserve"), "token": _token(),
        "expiry_date": expiry, "reservation_id": "R-1", "location_id": LOCATION})
    assert status == 200 and body["data"]["result"] == "ACCEPTED", body
    assert (await _result(flow.emsp, "reserve"))["result"] == "ACCEPTED"
    assert [a for a, _ in flow.charger.behaviour.received] == ["ReserveNow"]

    status, body, _ = await flow.emsp.call(
        "POST", flow.commands_url + "/CANCEL_RESERVATION",
        json={"response_url": flow.emsp.response_url("cancel"), "reservation_id": "R-1"})
    assert status == 200 and body["data"]["result"] == "ACCEPTED", body
    assert (await _result(flow.emsp, "cancel"))["result"] == "ACCEPTED"

    async def delivered() -> bool:
        return value("ocpi_deliveries_succeeded_total") >= before["delivered"] + 2

    assert await eventually(delivered)
    after = {key: value(name, **labels) for key, (name, labels) in series.items()}
    expected_increase = {"reserve_post": 2, "reserve_ok": 1, "cancel_ok": 1, "accepted": 1,
                         "cancelled": 1, "round_trip": 1, "cancel_trip": 1, "out_reserve": 1,
                         "in_status": 0}
    for key, increase in expected_increase.items():
        assert after[key] - before[key] == increase, key
    # The charger's StatusNotification (sent while the fixture set up) was counted.
    assert after["in_status"] >= 1

    async with aiohttp.ClientSession() as http, \
            http.get(f"http://{flow.host}/metrics") as response:
        assert response.status == 200
        exposed = families(await response.text())
    for name, kind in NAMED_SERIES.items():
        assert exposed[name].type == kind, name
    gauge = {s.labels["version"]: s.value for s in exposed["ocpp_connections"].samples}
    assert gauge == {"1.6": 1.0, "2.0.1": 0.0}


async def test_metrics_after_a_reservation_the_charger_refuses(flow: Flow) -> None:
    flow.charger.behaviour.reserve = "Occupied"
    series = {
        "occupied": ("ocpi_commands_total", {"command": "RESERVE_NOW",
                                             "result": "EVSE_OCCUPIED"}),
        "refused": ("ocpi_reservations_total", {"outcome": "refused"}),
        "accepted": ("ocpi_reservations_total", {"outcome": "accepted"}),
        "round_trip": ("ocpp_command_roundtrip_seconds_count", {"command": "ReserveNow",
                                                                "outcome": "occupied"}),
    }
    before = {key: value(name, **labels) for key, (name, labels) in series.items()}
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    status, body, _ = await flow.emsp.call("POST", flow.commands_url + "/RESERVE_NOW", json={
        "response_url": flow.emsp.response_url("busy"), "token": _token(),
        "expiry_date": expiry, "reservation_id": "R-2", "location_id": LOCATION})
    assert status == 200 and body["data"]["result"] == "ACCEPTED", body
    assert (await _result(flow.emsp, "busy"))["result"] == "EVSE_OCCUPIED"
    after = {key: value(name, **labels) for key, (name, labels) in series.items()}
    assert {key: after[key] - before[key] for key in series} == {
        "occupied": 1, "refused": 1, "accepted": 0, "round_trip": 1}
